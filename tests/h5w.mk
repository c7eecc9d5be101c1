# tests for h5w
