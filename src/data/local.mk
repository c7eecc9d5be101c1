# src/data: data sets (IDX raw/gzip, CIFAR binary, polynomial toy), batches and augmentation
libsinkrb_a_SOURCES += data/dataset.c data/idx.c data/cifar.c data/poly.c data/transform.c
noinst_HEADERS += data/dataset.h data/formats.h
