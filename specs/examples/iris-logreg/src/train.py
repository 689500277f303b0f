"""Logistic regression by gradient descent, standard library only.

Writes metrics to $AMLSPEC_METRICS_FILE (JSON lines) and the trained model to
$AMLSPEC_OUTPUTS_DIR/model.json, as any amlspec run may.
"""
import argparse
import json
import math
import os
import random


def make_data(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.random() < 0.5
        cx, cy = (1.5, 1.0) if label else (-1.0, -1.5)
        rows.append(((rng.gauss(cx, 1.0), rng.gauss(cy, 1.0)), 1.0 if label else 0.0))
    return rows


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def log_metric(name, value, step):
    path = os.environ.get("AMLSPEC_METRICS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": value, "step": step}) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    data = make_data(400, args.seed)
    train, test = data[:300], data[300:]
    w = [0.0, 0.0]
    b = 0.0
    for epoch in range(1, args.epochs + 1):
        gw = [0.0, 0.0]
        gb = 0.0
        loss = 0.0
        for (x1, x2), y in train:
            p_hat = sigmoid(w[0] * x1 + w[1] * x2 + b)
            err = p_hat - y
            gw[0] += err * x1
            gw[1] += err * x2
            gb += err
            loss -= y * math.log(p_hat + 1e-12) + (1 - y) * math.log(1 - p_hat + 1e-12)
        n = len(train)
        w = [w[0] - args.lr * gw[0] / n, w[1] - args.lr * gw[1] / n]
        b -= args.lr * gb / n
        if epoch % 50 == 0 or epoch == args.epochs:
            print(f"epoch {epoch:4d}  loss {loss / n:.4f}", flush=True)
            log_metric("loss", round(loss / n, 6), epoch)

    correct = sum(1 for (x1, x2), y in test if (sigmoid(w[0] * x1 + w[1] * x2 + b) >= 0.5) == (y == 1.0))
    accuracy = correct / len(test)
    print(f"test accuracy {accuracy:.3f}")
    log_metric("accuracy", accuracy, args.epochs)

    out = os.environ.get("AMLSPEC_OUTPUTS_DIR", "outputs")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.json"), "w", encoding="utf-8") as f:
        json.dump({"w": w, "b": b, "accuracy": accuracy}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
