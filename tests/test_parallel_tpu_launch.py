"""tpu/launch.py --dry-run prints the gcloud commands of each step and runs nothing."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dry_run(*argv) -> list[str]:
    result = subprocess.run([sys.executable, "tpu/launch.py", *argv, "--name", "sky", "--zone", "us-east5-a",
                             "--bucket", "gs://b", "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_all_steps_in_order():
    lines = dry_run("all", "--accelerator", "v5p-32", "--prompts", "p.txt", "--extra", "--resolution 540P")
    assert lines[0] == ("gcloud compute tpus tpu-vm create sky --accelerator-type=v5p-32 --version=v2-alpha-tpuv5 "
                        "--zone=us-east5-a")
    assert lines[1].startswith("git -C ") and "archive" in lines[1]
    assert lines[2].startswith("gcloud compute tpus tpu-vm scp /tmp/skyreels-jax.tar.gz sky:skyreels-jax.tar.gz "
                               "--worker=all")
    assert "--worker=all" in lines[3] and "pip install" in lines[3]
    assert "--worker=0" in lines[4] and ("python -m convert convert Skywork/SkyReels-V2-T2V-14B-540P "
                                         "gs://b/SkyReels-V2-T2V-14B-540P") in lines[4]
    assert lines[5].startswith("gcloud compute tpus tpu-vm scp p.txt sky:p.txt --worker=all")
    assert "--worker=all" in lines[6] and ("generate --distributed --model gs://b/SkyReels-V2-T2V-14B-540P "
                                           "--prompts p.txt --output-dir outputs --resolution 540P") in lines[6]
    assert "gcloud storage rsync outputs gs://b/outputs" in lines[6]
    assert len(lines) == 7


def test_v6e_runtime_and_delete():
    assert "--version=v2-alpha-tpuv6e" in dry_run("create", "--accelerator", "v6e-16")[0]
    assert dry_run("delete") == ["gcloud compute tpus tpu-vm delete sky --quiet --zone=us-east5-a"]
