# PyTorch interop: python/sinkrb_models.py against sinkrb on every
# architecture (skipped without torch, h5py and numpy).
TESTS += torch_interop.sh
dist_check_SCRIPTS += torch_interop.sh torch_interop.py
