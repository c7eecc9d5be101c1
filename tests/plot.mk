# tests for plot
