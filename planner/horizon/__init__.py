"""Multi-day planning on top of the day planner: which household on which day, then each day's routes."""

from .assign import HorizonParams as HorizonParams
from .baseline import plan_day_by_day as plan_day_by_day
from .evaluate import HorizonEvaluation as HorizonEvaluation
from .evaluate import evaluate_horizon as evaluate_horizon
from .holidays import KR_HOLIDAYS as KR_HOLIDAYS
from .holidays import holidays_between as holidays_between
from .model import MAX_DAYS as MAX_DAYS
from .model import FollowUp as FollowUp
from .model import Holidays as Holidays
from .model import HorizonProblem as HorizonProblem
from .model import HorizonReason as HorizonReason
from .model import HorizonVisit as HorizonVisit
from .model import WorkerCalendar as WorkerCalendar
from .model import occurrence_id as occurrence_id
from .model import split_occurrence_id as split_occurrence_id
from .plan import plan_horizon as plan_horizon
from .result import DayPlan as DayPlan
from .result import HorizonKpis as HorizonKpis
from .result import HorizonPlan as HorizonPlan
from .result import HorizonResult as HorizonResult
from .result import HorizonSummary as HorizonSummary
from .result import HorizonUnassigned as HorizonUnassigned
from .result import HouseholdVisits as HouseholdVisits
from .result import PlannedVisit as PlannedVisit
from .result import WorkerDay as WorkerDay
