"""The product's fixed vocabulary: property names, weights, tier labels, limits, env names.

One place, so a rename or a re-weighting is a one-line change that every layer sees.
"""

from __future__ import annotations

from enum import StrEnum

TIMEZONE = "America/New_York"
SCHEDULE_HOUR = 6  # Sunday 06:00 in TIMEZONE
# The tag Dagster puts on a partitioned run: the week key it computes (a documented tag).
PARTITION_TAG = "dagster/partition"

# --- HubSpot properties -------------------------------------------------------------------
PROP_SCORE = "customer_engagement_score"
PROP_RANK = "customer_engagement_rank"
PROP_TIER = "customer_engagement_tier"
ENGAGEMENT_PROPERTIES: tuple[str, ...] = (PROP_SCORE, PROP_RANK, PROP_TIER)

PROP_INTERNAL_TEST = "is_internal_test"
PROP_CUSTOMER_STATUS = "customer_status"
# The company's owner in HubSpot (an owner id): whose account manager gets its digest.
PROP_OWNER = "hubspot_owner_id"
COMPANY_READ_PROPERTIES: tuple[str, ...] = (
    "name",
    "domain",
    *ENGAGEMENT_PROPERTIES,
    PROP_INTERNAL_TEST,
    PROP_CUSTOMER_STATUS,
    PROP_OWNER,
)
CONTACT_PROPERTIES: tuple[str, ...] = ("email", "lifecyclestage")
CUSTOMER_LIFECYCLE_STAGE = "customer"
CHURNED_STATUS = "churned"

# HubSpot API limits (reference/hubspot-api.md).
HUBSPOT_SEARCH_PAGE_MAX = 200
HUBSPOT_SEARCH_RESULT_CAP = 10_000
HUBSPOT_SEARCH_BODY_MAX_CHARS = 3_000
HUBSPOT_SEARCH_PER_SECOND = 5
HUBSPOT_SEARCH_WINDOW_SECONDS = 1.0  # the window HUBSPOT_SEARCH_PER_SECOND is counted over
HUBSPOT_ASSOCIATIONS_BATCH_MAX = 1_000
HUBSPOT_BATCH_READ_MAX = 100
HUBSPOT_BATCH_UPDATE_MAX = 100
HUBSPOT_OWNERS_PAGE_MAX = 100  # the owners API's documented default page size
HUBSPOT_WINDOW_SECONDS = 10
HUBSPOT_TIER_LIMITS: dict[str, int] = {"free": 100, "pro": 190}  # requests per rolling 10 s
# Every object's numeric id as a searchable, sortable property (the keyset cursor).
HUBSPOT_ID_PROPERTY = "hs_object_id"
# HubSpot's objectTypeId of companies, as the property validation API names object types.
HUBSPOT_COMPANY_OBJECT_TYPE_ID = "0-2"
# The codes of a 400 VALIDATION_ERROR that say a value does not fit its property's definition;
# any other code on a write is a portal validation rule refusing it (reference/hubspot-api.md).
HUBSPOT_DEFINITION_CODES: frozenset[str] = frozenset(
    {
        "INVALID_BOOLEAN",
        "INVALID_DATE",
        "INVALID_DECIMAL",
        "INVALID_INTEGER",
        "INVALID_LONG",
        "INVALID_OPTION",
        "PROPERTY_DOESNT_EXIST",
        "READ_ONLY_VALUE",
    }
)


class HubSpotApiVersion(StrEnum):
    """The path family the client speaks (HUBSPOT_API_VERSION)."""

    V2026_09 = "2026-09"  # /crm/objects/2026-09/..., validation rules enforced on writes
    LEGACY = "legacy"  # /crm/v3 and /crm/v4: unsupported from September 2027


DEFAULT_HUBSPOT_API_VERSION = HubSpotApiVersion.V2026_09


class HubSpotOperation(StrEnum):
    """Each HubSpot call the product or the sandbox serves, whatever its path family."""

    CONTACTS_SEARCH = "contacts search"
    COMPANIES_SEARCH = "companies search"
    CONTACT_COMPANIES = "contact to company associations batch read"
    COMPANIES_READ = "companies batch read"
    COMPANIES_UPDATE = "companies batch update"
    COMPANY = "one company"
    CONTACT = "one contact"
    COMPANY_PROPERTIES = "company property definitions"
    COMPANY_PROPERTY = "one company property definition"
    PROPERTY_VALIDATIONS = "an object's property validation rules"
    PROPERTY_VALIDATION = "one property's validation rules"
    OWNERS = "owners list"


# "METHOD /path/template" of every operation in each family: the client's paths and the
# sandbox's routes (its request-log keys). The 2026-09 paths as HubSpot's 2026-09 reference
# gives them (developers.hubspot.com/docs/api-reference/latest/..., checked against the 2026-09
# rollouts of HubSpot/HubSpot-public-api-spec-collection; docs/internals.md lists each source).
HUBSPOT_ROUTES: dict[HubSpotApiVersion, dict[HubSpotOperation, str]] = {
    HubSpotApiVersion.V2026_09: {
        HubSpotOperation.CONTACTS_SEARCH: "POST /crm/objects/2026-09/contacts/search",
        HubSpotOperation.COMPANIES_SEARCH: "POST /crm/objects/2026-09/companies/search",
        HubSpotOperation.CONTACT_COMPANIES: (
            "POST /crm/associations/2026-09/contacts/companies/batch/read"
        ),
        HubSpotOperation.COMPANIES_READ: "POST /crm/objects/2026-09/companies/batch/read",
        HubSpotOperation.COMPANIES_UPDATE: "POST /crm/objects/2026-09/companies/batch/update",
        HubSpotOperation.COMPANY: "GET /crm/objects/2026-09/companies/{companyId}",
        HubSpotOperation.CONTACT: "GET /crm/objects/2026-09/contacts/{contactId}",
        HubSpotOperation.COMPANY_PROPERTIES: "GET /crm/properties/2026-09/companies",
        HubSpotOperation.COMPANY_PROPERTY: "GET /crm/properties/2026-09/companies/{propertyName}",
        HubSpotOperation.PROPERTY_VALIDATIONS: (
            "GET /crm/property-validations/2026-09/{objectTypeId}"
        ),
        HubSpotOperation.PROPERTY_VALIDATION: (
            "GET /crm/property-validations/2026-09/{objectTypeId}/{propertyName}"
        ),
        HubSpotOperation.OWNERS: "GET /crm/owners/2026-09",
    },
    HubSpotApiVersion.LEGACY: {
        HubSpotOperation.CONTACTS_SEARCH: "POST /crm/v3/objects/contacts/search",
        HubSpotOperation.COMPANIES_SEARCH: "POST /crm/v3/objects/companies/search",
        HubSpotOperation.CONTACT_COMPANIES: (
            "POST /crm/v4/associations/contacts/companies/batch/read"
        ),
        HubSpotOperation.COMPANIES_READ: "POST /crm/v3/objects/companies/batch/read",
        HubSpotOperation.COMPANIES_UPDATE: "POST /crm/v3/objects/companies/batch/update",
        HubSpotOperation.COMPANY: "GET /crm/v3/objects/companies/{companyId}",
        HubSpotOperation.CONTACT: "GET /crm/v3/objects/contacts/{contactId}",
        HubSpotOperation.COMPANY_PROPERTIES: "GET /crm/v3/properties/companies",
        HubSpotOperation.COMPANY_PROPERTY: "GET /crm/v3/properties/companies/{propertyName}",
        HubSpotOperation.PROPERTY_VALIDATIONS: "GET /crm/v3/property-validations/{objectTypeId}",
        HubSpotOperation.PROPERTY_VALIDATION: (
            "GET /crm/v3/property-validations/{objectTypeId}/{propertyName}"
        ),
        HubSpotOperation.OWNERS: "GET /crm/v3/owners/",
    },
}

# Yobi's stats periods, shortest first, with the days each reaches back from today.
YOBI_PERIODS: tuple[tuple[str, int], ...] = (("7days", 7), ("30days", 30), ("90days", 90))


# --- Scoring --------------------------------------------------------------------------------
class Metric(StrEnum):
    """The four weekly counters, in tie-break priority order."""

    NEW_PATIENTS = "new_patients"
    APPOINTMENTS = "appointments"
    TASKS = "tasks"
    CALLS = "calls"


# Insertion order is the tie-break priority (spec: new patients > appointments > tasks > calls).
METRIC_WEIGHTS: dict[Metric, int] = {
    Metric.NEW_PATIENTS: 4,
    Metric.APPOINTMENTS: 3,
    Metric.TASKS: 2,
    Metric.CALLS: 1,
}
METRICS: tuple[Metric, ...] = tuple(METRIC_WEIGHTS)
# How a sentence names each counter ("appointments 52 → 18").
METRIC_LABELS: dict[Metric, str] = {
    Metric.NEW_PATIENTS: "new patients",
    Metric.APPOINTMENTS: "appointments",
    Metric.TASKS: "tasks",
    Metric.CALLS: "calls",
}
# Stored with every ranked row, so history stays interpretable if the rules change.
SCORING_VERSION = "2026-11.w4321.ceil30"

TIER_TOP = "Top 30%"
TIER_MIDDLE = "Middle 40%"
TIER_BOTTOM = "Bottom 30%"
TIER_LABELS: tuple[str, ...] = (TIER_TOP, TIER_MIDDLE, TIER_BOTTOM)
TIER_FRACTION = 0.30

SUMMARY_TOP_N = 10
SUMMARY_MOVERS_N = 5


# --- Writing --------------------------------------------------------------------------------
class WriteMode(StrEnum):
    """How far `hubspot_writeback` may go: nothing, listed companies, or every ranked company."""

    DRY_RUN = "dry-run"
    ALLOWLIST = "allowlist"
    FULL = "full"


# --- Identity -------------------------------------------------------------------------------
class MatchMethod(StrEnum):
    """How a company found its tenant, strongest first."""

    OVERRIDE = "override"
    DOMAIN = "domain"
    EMAIL_DOMAIN = "email_domain"
    NAME = "name"  # the spec's normalization: lower case, no punctuation, no legal suffix
    # Only where the spec's finds nothing: accents folded, '&' as 'and', titles (DDS) dropped.
    LOOSE_NAME = "loose_name"


MATCH_CONFIDENCE: dict[MatchMethod, str] = {
    MatchMethod.OVERRIDE: "high",
    MatchMethod.DOMAIN: "high",
    MatchMethod.EMAIL_DOMAIN: "medium",
    MatchMethod.NAME: "low",
    MatchMethod.LOOSE_NAME: "very low",
}

DEFAULT_GENERIC_EMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "ymail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "comcast.net",
        "att.net",
        "verizon.net",
        "sbcglobal.net",
        "protonmail.com",
        "proton.me",
        "gmx.com",
        "mail.com",
        "zoho.com",
        "yandex.com",
    }
)


# --- Environment variables ------------------------------------------------------------------
class Env(StrEnum):
    """Every environment variable the product reads, by name."""

    HUBSPOT_ACCESS_TOKEN = "HUBSPOT_ACCESS_TOKEN"
    HUBSPOT_BASE_URL = "HUBSPOT_BASE_URL"
    HUBSPOT_TIER = "HUBSPOT_TIER"
    HUBSPOT_API_VERSION = "HUBSPOT_API_VERSION"
    YOBI_EMAIL = "YOBI_EMAIL"
    YOBI_PASSWORD = "YOBI_PASSWORD"
    YOBI_BASE_URL = "YOBI_BASE_URL"
    YOBI_CONTRACT_FILE = "YOBI_CONTRACT_FILE"
    SLACK_WEBHOOK_URL = "SLACK_WEBHOOK_URL"
    SMTP_HOST = "SMTP_HOST"
    SMTP_PORT = "SMTP_PORT"
    SMTP_USERNAME = "SMTP_USERNAME"
    SMTP_PASSWORD = "SMTP_PASSWORD"
    SMTP_FROM = "SMTP_FROM"
    SMTP_STARTTLS = "SMTP_STARTTLS"
    SUMMARY_EMAIL_TO = "SUMMARY_EMAIL_TO"
    JOB_TIMEZONE = "JOB_TIMEZONE"
    TENANT_MAPPING_OVERRIDES_JSON = "TENANT_MAPPING_OVERRIDES_JSON"
    TENANT_MAPPING_OVERRIDES_FILE = "TENANT_MAPPING_OVERRIDES_FILE"
    HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON = "HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON"
    INTERNAL_YOBI_USER_EMAIL_DOMAINS = "INTERNAL_YOBI_USER_EMAIL_DOMAINS"
    GENERIC_EMAIL_DOMAINS = "GENERIC_EMAIL_DOMAINS"
    ENGAGEMENT_WRITE_MODE = "ENGAGEMENT_WRITE_MODE"
    ENGAGEMENT_WRITE_ALLOWLIST = "ENGAGEMENT_WRITE_ALLOWLIST"
    ENGAGEMENT_WRITE_LEASE_WAIT_SECONDS = "ENGAGEMENT_WRITE_LEASE_WAIT_SECONDS"
    MAPPING_COVERAGE_MIN = "MAPPING_COVERAGE_MIN"
    ENGAGEMENT_DUCKDB_PATH = "ENGAGEMENT_DUCKDB_PATH"
    DAGSTER_UI_URL = "DAGSTER_UI_URL"
    ALARM_COUNTER_BAND = "ALARM_COUNTER_BAND"
    ALARM_UNIVERSE_BAND = "ALARM_UNIVERSE_BAND"
    ALARM_MAPPED_SHARE_BAND = "ALARM_MAPPED_SHARE_BAND"
    ALARM_TENANT_JUMP = "ALARM_TENANT_JUMP"
    ALARM_SEVERITIES = "ALARM_SEVERITIES"
    OWNER_DIGESTS = "OWNER_DIGESTS"
    OWNER_DIGEST_FALL_PLACES = "OWNER_DIGEST_FALL_PLACES"


DEFAULT_HUBSPOT_BASE_URL = "https://api.hubapi.com"
DEFAULT_YOBI_BASE_URL = "https://api.app.yib.io/api/v1"
DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS: tuple[str, ...] = ("yobi.app", "yib.io")
DEFAULT_MAPPING_COVERAGE_MIN = 0.80
# Data alarms: how far a week's figure may move from its trailing median (a share of the
# median) before a check warns, and how many times its own median a tenant's activity may reach.
DEFAULT_ALARM_COUNTER_BAND = 0.5
DEFAULT_ALARM_UNIVERSE_BAND = 0.25
DEFAULT_ALARM_MAPPED_SHARE_BAND = 0.15
DEFAULT_ALARM_TENANT_JUMP = 10.0
ALARM_HISTORY_WEEKS = 4  # the trailing weeks whose median a week is compared with
# An account manager's digest flags a company that fell more than this many places.
DEFAULT_OWNER_DIGEST_FALL_PLACES = 10
HTTP_TIMEOUT_SECONDS = 30.0
