# src/nn/optim.mk: optimisers and schedules
