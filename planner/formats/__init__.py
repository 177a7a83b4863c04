"""The one problem and plan contract: field tables from which the parsers, serialisers and JSON Schemas come."""

from .fields import DATE_RANGE as DATE_RANGE
from .fields import LIMITS as LIMITS
from .fields import RANGES as RANGES
from .fields import NumberRange as NumberRange
from .plan import kpis_from_json as kpis_from_json
from .plan import kpis_to_json as kpis_to_json
from .plan import plan_from_json as plan_from_json
from .plan import plan_json_schema as plan_json_schema
from .plan import plan_to_json as plan_to_json
from .problem import problem_from_json as problem_from_json
from .problem import problem_json_schema as problem_json_schema
from .problem import problem_to_json as problem_to_json
