"""The shap package as the judge of maas' explanations: the same model run by onnxruntime, the
same background, shap's own explainers.

usage: shap_judge.py MODEL.onnx OUTPUT BACKGROUND.json ROWS.json exact|kernel [NSAMPLES]
OUTPUT is the output maas answers with (`probabilities`, `predictions`); BACKGROUND.json is the
version's background file ({"rows": [...]}); ROWS.json a list of rows. Prints JSON: for each row
the attributions [features][outputs], the base value per output and the prediction per output,
from ExactExplainer over an Independent masker holding every background row (exact), or
KernelExplainer with that background and NSAMPLES coalitions (kernel).
"""
import json
import sys

import numpy as np
import onnxruntime as ort
import shap


def main() -> None:
    model_path, output, background_path, rows_path, method = sys.argv[1:6]
    nsamples = int(sys.argv[6]) if len(sys.argv) > 6 else 2048
    with open(background_path) as f:
        background = np.asarray(json.load(f)["rows"], dtype=np.float32)
    with open(rows_path) as f:
        rows = np.asarray(json.load(f), dtype=np.float32)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def f(x):
        x = np.asarray(x, dtype=np.float32)
        return session.run([output], {input_name: x})[0].astype(np.float64)

    answers = []
    if method == "exact":
        masker = shap.maskers.Independent(background, max_samples=len(background))
        explainer = shap.explainers.ExactExplainer(f, masker)
        explained = explainer(rows)
        values = np.asarray(explained.values)  # [rows, features, outputs]
        base = np.asarray(explained.base_values)  # [rows, outputs]
        for r in range(len(rows)):
            answers.append(
                {
                    "attributions": values[r].reshape(rows.shape[1], -1).tolist(),
                    "base_value": np.atleast_1d(base[r]).tolist(),
                    "prediction": f(rows[r : r + 1])[0].tolist(),
                }
            )
    else:
        explainer = shap.KernelExplainer(f, background)
        # l1_reg=False: the plain kernel-weighted least squares (shap's default "auto" selects
        # features by AIC when the budget is a small part of the coalitions, biasing the rest)
        values = explainer.shap_values(rows, nsamples=nsamples, l1_reg=False, silent=True)
        values = np.asarray(values)
        # shap 0.4x+: [rows, features, outputs]
        if values.ndim == 2:
            values = values[:, :, None]
        base = np.atleast_1d(explainer.expected_value)
        for r in range(len(rows)):
            answers.append(
                {
                    "attributions": values[r].tolist(),
                    "base_value": base.tolist(),
                    "prediction": f(rows[r : r + 1])[0].tolist(),
                }
            )
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
