"""Salpimi planner: risk-prioritised daily outreach routes (pure core, no web or database)."""

from typing import TYPE_CHECKING

from .diff import kpi_delta as kpi_delta
from .diff import plan_diff as plan_diff
from .domain import TIERS as TIERS
from .domain import Household as Household
from .domain import Location as Location
from .domain import Precedence as Precedence
from .domain import Problem as Problem
from .domain import RiskFactors as RiskFactors
from .domain import RiskSettings as RiskSettings
from .domain import Role as Role
from .domain import Seat as Seat
from .domain import ServiceTimes as ServiceTimes
from .domain import TimeWindow as TimeWindow
from .domain import TravelModeName as TravelModeName
from .domain import TravelTable as TravelTable
from .domain import Visit as Visit
from .domain import VisitKind as VisitKind
from .domain import WeeklyWindow as WeeklyWindow
from .domain import Worker as Worker
from .evaluate import Evaluation as Evaluation
from .evaluate import Violation as Violation
from .evaluate import allowed_starts as allowed_starts
from .evaluate import evaluate as evaluate
from .fit import FitOption as FitOption
from .fit import move_visit as move_visit
from .fit import where_it_fits as where_it_fits
from .formats import DATE_RANGE as DATE_RANGE
from .formats import LIMITS as LIMITS
from .formats import RANGES as RANGES
from .formats import kpis_from_json as kpis_from_json
from .formats import kpis_to_json as kpis_to_json
from .formats import plan_from_json as plan_from_json
from .formats import plan_json_schema as plan_json_schema
from .formats import plan_to_json as plan_to_json
from .formats.horizon import horizon_from_json as horizon_from_json
from .formats.horizon import horizon_json_schema as horizon_json_schema
from .formats.horizon import horizon_plan_from_json as horizon_plan_from_json
from .formats.horizon import horizon_plan_to_json as horizon_plan_to_json
from .formats.horizon import horizon_to_json as horizon_to_json
from .formats.horizon import is_horizon_json as is_horizon_json
from .formats.problem import availability_from_json as availability_from_json
from .formats.problem import availability_to_json as availability_to_json
from .formats.problem import clock_from_json as clock_from_json
from .formats.problem import windows_from_json as windows_from_json
from .formats.problem import windows_to_json as windows_to_json
from .geo import plan_geojson as plan_geojson
from .geo import streets_geojson as streets_geojson
from .horizon import KR_HOLIDAYS as KR_HOLIDAYS
from .horizon import MAX_DAYS as MAX_DAYS
from .horizon import DayPlan as DayPlan
from .horizon import FollowUp as FollowUp
from .horizon import Holidays as Holidays
from .horizon import HorizonEvaluation as HorizonEvaluation
from .horizon import HorizonKpis as HorizonKpis
from .horizon import HorizonParams as HorizonParams
from .horizon import HorizonPlan as HorizonPlan
from .horizon import HorizonProblem as HorizonProblem
from .horizon import HorizonReason as HorizonReason
from .horizon import HorizonResult as HorizonResult
from .horizon import HorizonSummary as HorizonSummary
from .horizon import HorizonUnassigned as HorizonUnassigned
from .horizon import HorizonVisit as HorizonVisit
from .horizon import WorkerCalendar as WorkerCalendar
from .horizon import WorkerDay as WorkerDay
from .horizon import evaluate_horizon as evaluate_horizon
from .horizon import plan_day_by_day as plan_day_by_day
from .horizon import plan_horizon as plan_horizon
from .instance import Instance as Instance
from .instance import compile_instance as compile_instance
from .io import ProblemFileError as ProblemFileError
from .io import load_problem as load_problem
from .io import problem_from_json as problem_from_json
from .io import problem_json_schema as problem_json_schema
from .io import problem_to_json as problem_to_json
from .params import SOLVERS as SOLVERS
from .params import SolveParams as SolveParams
from .plan import Crew as Crew
from .plan import Kpis as Kpis
from .plan import LeftBehind as LeftBehind
from .plan import Partner as Partner
from .plan import Plan as Plan
from .plan import Reason as Reason
from .plan import Route as Route
from .plan import Stop as Stop
from .plan import TierCount as TierCount
from .plan import Unassigned as Unassigned
from .replan import Replanned as Replanned
from .replan import changes as changes
from .replan import freeze as freeze
from .replan import merge as merge
from .replan import replan as replan
from .risk import RiskAssessment as RiskAssessment
from .risk import RiskModel as RiskModel
from .risk import skip_penalty as skip_penalty
from .segments import Segment as Segment
from .segments import route_segments as route_segments
from .solve import Result as Result
from .solve import solve as solve
from .solvers.base import Progress as Progress
from .solvers.budget import pace as pace
from .timeline import SEOUL as SEOUL
from .timeline import WEEKDAYS as WEEKDAYS
from .timeline import DayClock as DayClock
from .timeline import format_hhmm as format_hhmm
from .travel.base import UNREACHABLE as UNREACHABLE
from .travel.base import TravelMatrix as TravelMatrix
from .travel.base import TravelTimeProvider as TravelTimeProvider
from .travel.haversine import HaversineProvider as HaversineProvider
from .travel.matrix import MatrixProvider as MatrixProvider

__version__ = "0.1.0"


if TYPE_CHECKING:
    from os import PathLike


def road_network(name: str, *, data_dir: "str | PathLike[str] | None" = None) -> TravelTimeProvider:
    """The road network imported as ``name`` (``salpimi network import``), as a travel provider.

    ``data_dir`` is the data directory whose ``networks/`` folder holds it (default
    ``$SALPIMI_DATA_DIR`` or ``./data``).  Imported lazily: osmnx loads only when a network is
    used.  Raises ``ValueError`` naming the known networks when ``name`` is unknown.
    """
    from pathlib import Path

    from .travel.networks import provider_for

    return provider_for(name, data_dir=Path(data_dir) if data_dir is not None else None)
