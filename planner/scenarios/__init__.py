"""What-if capacity scenarios: specs (a base problem plus changes), the rolling simulation under a policy, KPIs over
seeds and the minimum-staffing search (``docs/scenarios.md``)."""

from .kpis import aggregate as aggregate
from .minstaff import KPI_NAMES as KPI_NAMES
from .minstaff import min_staff as min_staff
from .minstaff import parse_target as parse_target
from .simulate import RESULT_VERSION as RESULT_VERSION
from .simulate import run_task as run_task
from .simulate import simulate as simulate
from .spec import POLICIES as POLICIES
from .spec import Spec as Spec
from .spec import SpecError as SpecError
from .spec import load_spec as load_spec
from .spec import parse_spec as parse_spec
