# tests for rebasin
