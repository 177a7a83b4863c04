"""Sweeps: independent tasks (plain dicts) run in worker processes, locally or on Dask, stored as they finish."""

from .model import Outcome as Outcome
from .model import SweepProgress as SweepProgress
from .model import SweepResult as SweepResult
from .run import ATTEMPTS as ATTEMPTS
from .run import default_workers as default_workers
from .run import run_tasks as run_tasks
from .store import ResultStore as ResultStore
from .store import task_key as task_key
