"""scikit-learn as the judge of maas' regression: fits LinearRegression and MLPRegressor on
the rows maas trained on and scores them on maas' test rows.

usage: sklearn_regression.py TRAIN.csv TEST.csv TARGET[,TARGET...] SEED [PREDICTIONS.json]
Both CSVs have a header; the target columns are predicted from every other column. Prints
JSON: each model's R² on the test rows (averaged over the targets as sklearn's r2_score does)
and, given another model's predictions for the test rows (a JSON array of rows), their R² per
target by sklearn's r2_score.
"""
import json
import sys

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def read(path, targets):
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    y_cols = [header.index(t) for t in targets]
    x_cols = [i for i in range(len(header)) if i not in y_cols]
    return data[:, x_cols], data[:, y_cols]


def main() -> None:
    train_path, test_path, targets, seed = sys.argv[1:5]
    targets = targets.split(",")
    x_train, y_train = read(train_path, targets)
    x_test, y_test = read(test_path, targets)
    single = len(targets) == 1
    fit_y = y_train.ravel() if single else y_train

    linear = LinearRegression().fit(x_train, fit_y)
    # the same network shape maas trains by default, targets standardised like maas does
    mlp = make_pipeline(
        StandardScaler(),
        MLPRegressor(hidden_layer_sizes=(512,), learning_rate_init=1e-3, batch_size=32,
                     max_iter=200, early_stopping=True, random_state=int(seed)),
    )
    scale = StandardScaler().fit(y_train)
    mlp.fit(x_train, scale.transform(y_train).ravel() if single else scale.transform(y_train))
    mlp_pred = scale.inverse_transform(np.asarray(mlp.predict(x_test)).reshape(len(x_test), -1))

    given = {}
    if len(sys.argv) > 5:
        with open(sys.argv[5]) as f:
            predicted = np.asarray(json.load(f), dtype=np.float64).reshape(len(x_test), -1)
        given = {"given_r2": r2_score(y_test, predicted, multioutput="raw_values").tolist()}

    print(json.dumps({
        **given,
        "rows": {"train": len(x_train), "test": len(x_test)},
        "linear_regression_r2": r2_score(y_test, linear.predict(x_test).reshape(len(x_test), -1)),
        "mlp_regressor_r2": r2_score(y_test, mlp_pred),
    }))


if __name__ == "__main__":
    main()
