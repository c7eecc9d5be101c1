# tests for lap
