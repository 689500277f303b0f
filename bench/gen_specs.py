#!/usr/bin/env python3
"""Writes N realistic, varied, valid run specs (each with its script) into DIR.

    bench/gen_specs.py DIR [--count N] [--seed S] [--source-dir SRC]

DIR gets an amlspec.yaml (targets gpu-vm, hpc, cloud) and, per spec,
DIR/<experiment>/<name>.run.yaml with its script beside it (or under src/ when
the spec sets source_directory). The curated environments named are read from
SRC/specs/environments (default: this checkout), so every spec is valid for
`amlspec validate` (schema and semantics) and for the JSON Schema. The YAML is
written so that YAML 1.1 loaders (PyYAML) and YAML 1.2 loaders read the same
values: every string that could be read as something else is quoted.

Standard library only.
"""
import argparse
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

EXPERIMENTS = [
    "mnist", "cifar10", "imagenet-resnet50", "bert-finetune", "gpt2-small", "churn_model",
    "fraud-detection", "recsys_v2", "speech-ctc", "segmentation-unet", "timeseries-lstm",
    "tabular-xgb", "yolo-detect", "sentiment", "translation_en_de", "ranker",
]
NAMES = ["baseline", "lr-sweep", "wide", "deep", "ablation", "distill", "augment", "long-run",
         "smoke", "fp16", "large-batch", "warmup", "dropout", "tuned", "final"]
PIP = ["numpy==1.26.4", "pandas==2.1.4", "scikit-learn==1.3.2", "torch==2.1.2", "torchvision==0.16.2",
       "transformers==4.36.2", "datasets==2.16.1", "lightgbm==4.2.0", "xgboost==2.0.3", "mlflow==2.9.2",
       "wandb==0.16.1", "tqdm==4.66.1", "pyyaml==6.0.1", "scipy==1.11.4", "matplotlib==3.8.2"]
CONDA = ["python=3.10", "cudatoolkit=11.8", "pip", "numpy", "mkl", "openmpi"]
TEAMS = ["vision", "nlp", "speech", "ranking", "platform", "research"]
IMAGES = ["mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04",
          "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04", "python:3.11-slim"]
TARGETS = ["local", "gpu-vm", "hpc", "cloud"]


def catalog(src):
    """[(name, [versions])] from specs/environments/*.yaml (simple line scan)."""
    out = []
    d = os.path.join(src, "specs", "environments")
    for f in sorted(os.listdir(d)):
        if not f.endswith(".yaml"):
            continue
        name, versions = None, []
        with open(os.path.join(d, f), encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r"^name:\s*(\S+)\s*$", line)
                if m:
                    name = m.group(1).strip("\"'")
                m = re.match(r"^  - version:\s*(\d+)\s*$", line)
                if m:
                    versions.append(int(m.group(1)))
        if name and versions:
            out.append((name, versions))
    if not out:
        sys.exit(f"gen_specs: no curated environments found in {d}")
    return out


def q(s):
    """A double-quoted YAML string (safe under YAML 1.1 and 1.2)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def flow_list(items):
    return "[" + ", ".join(items) + "]"


def spec(rng, i, cat):
    """Returns (experiment, name, text, script_relpath) for spec number i."""
    exp = rng.choice(EXPERIMENTS)
    name = f"{rng.choice(NAMES)}-{i:04d}"
    lines = ["# yaml-language-server: $schema=https://amlspec.dev/schemas/run.schema.json"]
    if rng.random() < 0.3:
        lines.append("version: 1")
    lines.append(f"experiment: {exp}")
    lines.append(f"name: {name}")
    if rng.random() < 0.7:
        verb = rng.choice(["try", "compare", "reproduce"])
        lines.append("description: " + q(f"{exp} {name}: {verb} run {i}"))
    if rng.random() < 0.6:
        tags = {"team": rng.choice(TEAMS), "owner": rng.choice(["ana", "bo", "chen", "dev"])}
        if rng.random() < 0.5:
            tags["ticket"] = f"ML-{rng.randint(100, 9999)}"
        if rng.random() < 0.5:
            lines.append("tags: {" + ", ".join(f"{k}: {q(v)}" for k, v in tags.items()) + "}")
        else:
            lines.append("tags:")
            lines.extend(f"  {k}: {q(v)}" for k, v in tags.items())
    in_src = rng.random() < 0.4
    if in_src:
        lines.append("source_directory: src")
    script = None
    if rng.random() < 0.85:
        script = f"train_{i:04d}.py"
        lines.append(f"script: {script}")
        if rng.random() < 0.8:
            args = ["--lr", str(rng.choice([0.1, 0.01, 0.001, 0.0003])), "--epochs", str(rng.randint(1, 100))]
            if rng.random() < 0.5:
                args += ["--batch-size", str(rng.choice([16, 32, 64, 128, 256]))]
            if rng.random() < 0.3:
                args += ["--data", q(f"/data/{exp}/v{rng.randint(1, 9)}")]
            if rng.random() < 0.5:
                lines.append("arguments: " + flow_list(args))
            else:
                lines.append("arguments:")
                lines.extend(f"  - {a}" for a in args)
    else:
        lines.append("command: " + flow_list(["python", "-m", f"pkg.train_{i % 7}", "--seed", str(rng.randint(0, 99))]))
    r = rng.random()
    if r < 0.45:
        name_, versions = rng.choice(cat)
        ref = name_ if rng.random() < 0.3 else f"{name_}@{rng.choice(versions)}"
        lines.append(f"environment: {ref}")
    elif r < 0.85:
        lines.append("environment:")
        if rng.random() < 0.4:
            name_, versions = rng.choice(cat)
            lines.append(f"  extends: {name_}@{rng.choice(versions)}")
        lines.append("  python:")
        if rng.random() < 0.8:
            lines.append(f"    version: {q(rng.choice(['3.8', '3.9', '3.10', '3.11', '3.11.7']))}")
        pkgs = rng.sample(PIP, rng.randint(1, 8))
        lines.append("    pip_packages:")
        lines.extend(f"      - {q(p)}" for p in pkgs)
        if rng.random() < 0.3:
            lines.append("    conda_packages: " + flow_list([q(p) for p in rng.sample(CONDA, 2)]))
            lines.append("    channels: [conda-forge]")
        if rng.random() < 0.3:
            lines.append("  docker:")
            lines.append(f"    enabled: {rng.choice(['true', 'false'])}")
            lines.append(f"    base_image: {rng.choice(IMAGES)}")
        if rng.random() < 0.3:
            lines.append("  environment_variables: {PYTHONUNBUFFERED: \"1\"}")
    # else: the default environment
    if rng.random() < 0.5:
        lines.append("environment_variables:")
        lines.append(f"  EPOCHS: {q(str(rng.randint(1, 50)))}")
        if rng.random() < 0.5:
            lines.append(f"  OMP_NUM_THREADS: {rng.choice([1, 2, 4, 8])}")
        if rng.random() < 0.3:
            lines.append("  HF_HOME: /cache/hf")
    if rng.random() < 0.3:
        lines.append("secrets: " + flow_list(rng.sample(["WANDB_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY"], rng.randint(1, 2))))
    target = rng.choice(TARGETS)
    if target != "local" or rng.random() < 0.3:
        lines.append(f"target: {target}")
    fw = rng.choice(["python", "python", "python", "pytorch", "mpi", "tensorflow", "pyspark"])
    if fw != "python" or rng.random() < 0.2:
        lines.append(f"framework: {fw}")
    if fw in ("pytorch", "mpi", "tensorflow") and rng.random() < 0.8:
        lines.append("distribution:")
        lines.append(f"  node_count: {rng.choice([1, 2, 4, 8])}")
        lines.append(f"  process_count_per_node: {rng.choice([1, 2, 4, 8])}")
    if rng.random() < 0.5:
        lines.append("limits:")
        lines.append(f"  timeout: {rng.choice(['30m', '2h', '12h', '1d', '3600', '86400', '90s'])}")
    script_rel = None
    if script:
        script_rel = os.path.join("src", script) if in_src else script
    return exp, name, "\n".join(lines) + "\n", script_rel


WORKSPACE = """version: 1
workspace: bench
targets:
  gpu-vm: {type: ssh, host: 10.0.0.4, port: 22, user: azureuser, identity_file: ~/.ssh/id_ed25519, work_dir: ~/amlspec}
  hpc: {type: slurm, partition: gpu, work_dir: /shared/amlspec, sbatch_args: [--gres=gpu:1]}
  cloud: {type: azureml, subscription_id: "00000000-0000-0000-0000-000000000000", resource_group: ml-rg, workspace_name: ml-ws, compute: cpu-cluster}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--source-dir", default=os.path.dirname(HERE))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    cat = catalog(a.source_dir)
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "amlspec.yaml"), "w", encoding="utf-8") as f:
        f.write(WORKSPACE)
    for i in range(a.count):
        exp, name, text, script = spec(rng, i, cat)
        d = os.path.join(a.dir, exp)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{name}.run.yaml"), "w", encoding="utf-8") as f:
            f.write(text)
        if script:
            p = os.path.join(d, script)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(f"# {exp}/{name}\nimport sys\nprint('training', sys.argv[1:])\n")
    print(f"gen_specs: wrote {a.count} specs to {a.dir}")


if __name__ == "__main__":
    main()
