"""The Terraform boundary: the only code that starts processes. Finding the binary and building its
environment (`env`), running it (`process`), reading its JSON (`output`), classifying its failures
(`errors`), its redacted run log (`runlog`) and its state lock (`lock`). The engine imports from
here; tests fake this boundary, not `subprocess`."""

from reconciler.terraform.env import TerraformEnv, find_terraform, terraform_version
from reconciler.terraform.errors import FailureKind, TerraformError
from reconciler.terraform.launcher import Launcher
from reconciler.terraform.lock import lock_info, lock_is_held
from reconciler.terraform.output import PlanSummary
from reconciler.terraform.process import Terraform

__all__ = [
    "FailureKind",
    "Launcher",
    "PlanSummary",
    "Terraform",
    "TerraformEnv",
    "TerraformError",
    "find_terraform",
    "lock_info",
    "lock_is_held",
    "terraform_version",
]
