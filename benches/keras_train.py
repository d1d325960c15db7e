"""The Keras anchor of the training comparison: the reference model on the same CSV as `maas train`.

usage: keras_train.py TRAIN.csv TEST.csv EPOCHS   (prints JSON)

Same network and optimiser as maas' reference (1000 -> 512 ReLU -> 10 softmax, Adam lr 1e-3,
categorical cross-entropy, batch 32), same splits (20 % of each class held out for the test,
10 % of the rest for validation, evaluated after every epoch as maas does), features
standardised on the training rows. TensorFlow runs on every core of the machine (intra- and
inter-op threads = nproc). Reported: the median epoch's samples/s (the first epoch, which
traces the graph, is left out), the accuracy on the held-out rows and on TEST.csv.
"""
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def stratified_split(y, fraction, rng):
    held = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        rng.shuffle(rows)
        held.extend(rows[: int(round(len(rows) * fraction))])
    mask = np.zeros(len(y), dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


class EpochTimer(tf.keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def main():
    path, test_path, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    threads = os.cpu_count()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.keras.utils.set_random_seed(42)

    def read(csv_path):
        with open(csv_path) as f:
            header = f.readline().strip().split(",")
        label_column = header.index("label")
        raw = np.loadtxt(csv_path, delimiter=",", skiprows=1, dtype=np.float32)
        return np.delete(raw, label_column, axis=1), raw[:, label_column].astype(np.int64)

    x, y_raw = read(path)
    x_new, y_new_raw = read(test_path)
    classes = np.unique(y_raw)
    y = np.searchsorted(classes, y_raw)
    y_new = np.searchsorted(classes, y_new_raw)

    rng = np.random.default_rng(42)
    train, test = stratified_split(y, 0.2, rng)
    fit_rows, validation = stratified_split(y[train], 0.1, rng)
    train, validation = train[fit_rows], train[validation]
    mean, scale = x[train].mean(axis=0), x[train].std(axis=0)
    scale[scale < 1e-6] = 1.0
    x = (x - mean) / scale
    x_new = (x_new - mean) / scale

    model = tf.keras.Sequential([
        tf.keras.Input(shape=(x.shape[1],)),
        tf.keras.layers.Dense(512, activation="relu"),
        tf.keras.layers.Dense(len(classes), activation="softmax"),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(x[train], y[train], batch_size=32, epochs=epochs, shuffle=True,
              validation_data=(x[validation], y[validation]), callbacks=[timer], verbose=0)
    _, test_accuracy = model.evaluate(x[test], y[test], batch_size=1024, verbose=0)
    _, same_rows_accuracy = model.evaluate(x_new, y_new, batch_size=1024, verbose=0)
    steady = timer.seconds[1:] or timer.seconds
    print(json.dumps({
        "tensorflow": tf.__version__,
        "threads": threads,
        "training_rows": int(len(train)),
        "epochs": epochs,
        "epoch_seconds": timer.seconds,
        "samples_per_second": len(train) / statistics.median(steady),
        "test_accuracy": float(test_accuracy),
        "test_rows": int(len(test)),
        "same_rows_accuracy": float(same_rows_accuracy),
        "same_rows": int(len(y_new)),
    }))


if __name__ == "__main__":
    main()
