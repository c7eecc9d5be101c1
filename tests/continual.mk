# tests for continual learning
