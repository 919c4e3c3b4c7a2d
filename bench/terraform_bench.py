"""Scenario 6 — engine overhead beside Terraform itself, with no API cost on either side.

    python bench/terraform_bench.py                # N = 1,000, 3 runs
    python bench/terraform_bench.py --n 200 --runs 1

Terraform: N `terraform_data` resources (built into Terraform: no provider download, no
network), each with an `input` object shaped like a connection (name, url, headers,
parameters), in one `main.tf`; local backend; `TF_IN_AUTOMATION=1`, `-input=false`,
`-parallelism=10`; `terraform init` once, untimed. Timed: `terraform apply
-auto-approve` from an empty state, then `terraform plan` with nothing to change.

polyctl: N generated connections applied to a sandbox process with no latency
(`polyctl apply --auto-approve --parallelism 10`) from an empty state and sandbox, then
`polyctl plan` with nothing to change (it still lists the connections from the sandbox:
Terraform's `terraform_data` has nothing remote to refresh).

Each run starts from scratch on both sides; the two alternate, so load from elsewhere
falls on both. Requires `terraform` on PATH.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import harness as h

TARGET_APPLY = 1 / 5
TARGET_PLAN = 1 / 3


def terraform_config(n: int) -> str:
    blocks = []
    for i in range(n):
        blocks.append(
            f'resource "terraform_data" "conn_{i:06d}" {{\n'
            "  input = {\n"
            f'    name = "Connection {i}"\n'
            f'    url  = "https://api{i}.example.com/v1"\n'
            '    headers = [{ name = "Accept", value = "application/json" },\n'
            f'               {{ name = "X-Client", value = "client-{i}" }}]\n'
            f'    parameters = [{{ name = "page_size", value = "{100 + i % 50}" }}]\n'
            f'    healthcheck = "https://api{i}.example.com/health"\n'
            "  }\n"
            "}\n")
    return "".join(blocks)


def _tf_env(root: Path) -> dict[str, str]:
    rc = root / "terraformrc"
    rc.write_text("")  # no user configuration, no plugin cache: nothing to download
    return h.base_env(TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1",
                      TF_CLI_CONFIG_FILE=str(rc))


def terraform_run(root: Path, n: int) -> tuple[h.Run, h.Run]:
    work = root / "tf"
    work.mkdir()
    (work / "main.tf").write_text(terraform_config(n))
    env = _tf_env(root)
    tf = shutil.which("terraform") or "terraform"
    h.run([tf, "init", "-input=false", "-no-color"], cwd=work, env=env).check("terraform init")
    apply = h.run([tf, "apply", "-auto-approve", "-input=false", "-no-color", "-parallelism=10"],
                  cwd=work, env=env).check("terraform apply")
    plan = h.run([tf, "plan", "-input=false", "-no-color", "-parallelism=10",
                  "-detailed-exitcode"], cwd=work, env=env)
    if plan.code != 0:
        raise RuntimeError(f"terraform plan is not empty (exit {plan.code}):\n{plan.stdout[-2000:]}")
    return apply, plan


def polyctl_run(root: Path, n: int) -> tuple[h.Run, h.Run]:
    project = root / "project"
    h.write_specs(project, n)
    with h.Sandbox(root / "sandbox", latency_ms=0) as sandbox:
        apply = h.apply_all(project, sandbox)
        plan = h.run(h.POLYCTL + ["plan"], cwd=project, env=sandbox.env()).check("polyctl plan")
        if "No changes" not in plan.stdout:
            raise RuntimeError(f"the polyctl plan is not empty:\n{plan.stdout[-2000:]}")
    return apply, plan


def measure(n: int = 1000, runs: int = 3) -> list[h.Figure]:
    tf_apply, tf_plan, pc_apply, pc_plan = [], [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="polyctl-bench-") as tmp:
            a, p = terraform_run(Path(tmp), n)
            tf_apply.append(a.wall)
            tf_plan.append(p.wall)
        with tempfile.TemporaryDirectory(prefix="polyctl-bench-") as tmp:
            a, p = polyctl_run(Path(tmp), n)
            pc_apply.append(a.wall)
            pc_plan.append(p.wall)
    load = h.load1()
    ta, tp = h.median(tf_apply), h.median(tf_plan)
    pa, pp = h.median(pc_apply), h.median(pc_plan)
    return [
        h.Figure("6 vs Terraform", f"polyctl apply, {n:,} creates, no latency (median of {runs})",
                 h.seconds(pa), beside=f"terraform apply of {n:,} terraform_data: "
                 f"{h.seconds(ta)} → polyctl takes {pa / ta:.2f} of it",
                 target="≤ 1/5 (0.20) of Terraform's", met=pa <= TARGET_APPLY * ta, load=load),
        h.Figure("6 vs Terraform", f"polyctl plan, {n:,}, nothing to change (median of {runs})",
                 h.seconds(pp), beside=f"terraform plan: {h.seconds(tp)} → polyctl takes "
                 f"{pp / tp:.2f} of it",
                 target="≤ 1/3 (0.33) of Terraform's", met=pp <= TARGET_PLAN * tp, load=load),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    if shutil.which("terraform") is None:
        print("terraform is not on PATH", file=sys.stderr)
        return 1
    print(f"Scenario 6: polyctl beside Terraform — {h.machine()}", flush=True)
    for figure in measure(opts.n, opts.runs):
        figure.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
