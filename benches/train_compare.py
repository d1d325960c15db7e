"""Training side by side: `maas train` and Keras (benches/keras_train.py) on the same CSV, the
same splits' sizes, the same network, optimiser, batch and epochs, one after the other.

usage: train_compare.py MAAS_BINARY PYTHON TRAIN.csv TEST.csv EPOCHS STORE   (prints JSON)

maas: samples/s over the whole training loop (every epoch, first included, with its validation
pass), as `maas train` prints it; Keras: its median epoch (the first, which traces the graph,
left out). Accuracy: each side's own held-out 20 % of TRAIN.csv, and both on the same rows of
TEST.csv (drawn from the same generator, never seen by either): `maas eval` and Keras.
"""
import json
import re
import subprocess
import sys


def run_maas(maas, data, test, epochs, store):
    out = subprocess.run(
        [maas, "train", "--data", data, "--name", "reference", "--store", store,
         "--epochs", str(epochs)],
        check=True, capture_output=True, text=True).stdout
    trained = re.search(r"training: (\d+) rows × (\d+) epochs in ([\d.]+) s \((\d+) samples/s\)", out)
    accuracy = re.search(r"test accuracy ([\d.]+) on (\d+) rows", out)
    if not trained or not accuracy:
        raise RuntimeError(f"unexpected maas train output:\n{out}")
    evaluated = json.loads(subprocess.run(
        [maas, "eval", "--model", f"{store}/reference@latest", "--data", test, "--json"],
        check=True, capture_output=True, text=True).stdout)["metrics"]
    return {
        "same_rows_accuracy": evaluated["accuracy"],
        "same_rows": evaluated["rows"],
        "training_rows": int(trained[1]),
        "epochs": int(trained[2]),
        "seconds": float(trained[3]),
        "samples_per_second": float(trained[4]),
        "test_accuracy": float(accuracy[1]),
        "test_rows": int(accuracy[2]),
    }


def run_keras(python, data, test, epochs):
    out = subprocess.run([python, "benches/keras_train.py", data, test, str(epochs)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    maas, python, data, test, epochs, store = sys.argv[1:7]
    epochs = int(epochs)
    result = {"maas": run_maas(maas, data, test, epochs, store),
              "keras": run_keras(python, data, test, epochs)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
