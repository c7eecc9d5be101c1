# tests for Sinkhorn re-basin and STE
