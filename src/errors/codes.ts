/**
 * The one registry of veilbox error codes. Every code has its HTTP status and a
 * short title; `docs/errors.md` documents each one and a test keeps the two in
 * step. Codes are stable: clients may branch on them. Add, never rename.
 *
 * Areas: AUTH, REQUEST, CONFIG, DATASET, SOURCE, INGEST, QUERY, POLICY, MARKET, BUDGET, DP,
 * SANDBOX, EXEC, HE, CUSTODIAN, AUDIT, RECEIPT, NATIVE, INTERNAL.
 *
 * `publicDetail` marks the 5xx codes whose detail a client may read: every
 * place that throws one writes its sentence for the client, from veilbox's
 * own words and numbers (load, a deadline and its charge, a dependency that
 * does not answer), never from the data, a library's message or a path. Any
 * other 5xx is answered with a fixed sentence naming the code's title
 * (src/http/problem.ts); the log keeps the real detail. A 4xx always shows
 * its detail: it says what to change.
 */
export interface ErrorCodeDef {
  readonly status: number
  readonly title: string
  readonly publicDetail?: true
}

export const ERROR_CODES = {
  // Authentication and authorization
  VEILBOX_ERR_AUTH_MISSING_KEY: { status: 401, title: 'API key missing' },
  VEILBOX_ERR_AUTH_INVALID_KEY: { status: 401, title: 'API key not recognised' },
  VEILBOX_ERR_AUTH_FORBIDDEN_ROLE: { status: 403, title: 'Role not allowed for this operation' },
  VEILBOX_ERR_AUTH_TOO_MANY_FAILURES: { status: 429, title: 'Too many failed authentications' },

  // Generic request problems
  VEILBOX_ERR_REQUEST_VALIDATION: { status: 400, title: 'Request does not match the schema' },
  VEILBOX_ERR_REQUEST_BAD_JSON: { status: 400, title: 'Request body is not valid JSON' },
  VEILBOX_ERR_REQUEST_FORBIDDEN_KEY: { status: 400, title: 'Request body uses a forbidden property name' },
  VEILBOX_ERR_REQUEST_TOO_LARGE: { status: 413, title: 'Request body too large' },
  VEILBOX_ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  VEILBOX_ERR_REQUEST_NOT_FOUND: { status: 404, title: 'Route not found' },
  VEILBOX_ERR_REQUEST_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  VEILBOX_ERR_REQUEST_TOO_DEEP: { status: 400, title: 'Request body nested too deeply' },
  VEILBOX_ERR_REQUEST_BAD_URL: { status: 400, title: 'Malformed URL' },
  VEILBOX_ERR_REQUEST_FORBIDDEN_PATH: { status: 403, title: 'Path not allowed' },
  VEILBOX_ERR_REQUEST_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  VEILBOX_ERR_REQUEST_TIMEOUT: { status: 408, title: 'Request body stalled' },
  VEILBOX_ERR_REQUEST_ABORTED: { status: 400, title: 'Request aborted by the client' },
  VEILBOX_ERR_REQUEST_MALFORMED: { status: 400, title: 'Malformed request' },
  VEILBOX_ERR_REQUEST_HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  VEILBOX_ERR_REQUEST_TOO_MANY_OPEN: { status: 429, title: 'Too many open requests' },

  // Configuration (start-up)
  VEILBOX_ERR_CONFIG_INVALID: { status: 500, title: 'Invalid configuration' },
  VEILBOX_ERR_CONFIG_DATA_DIR_IN_USE: { status: 500, title: 'The data directory is in use by another process' },
  VEILBOX_ERR_CONFIG_SECRET_MISMATCH: { status: 500, title: 'The sealing secret does not open the stored service key' },

  // The store
  VEILBOX_ERR_STORE_UNAVAILABLE: { status: 503, title: 'The database is not reachable', publicDetail: true },

  // API keys
  VEILBOX_ERR_KEY_NAME_TAKEN: { status: 409, title: 'A key with this name already exists' },
  VEILBOX_ERR_KEY_NOT_FOUND: { status: 404, title: 'No such key' },

  // Datasets and their schemas
  VEILBOX_ERR_DATASET_INVALID_SCHEMA: { status: 400, title: 'Dataset schema breaks a rule' },
  VEILBOX_ERR_DATASET_EXISTS: { status: 409, title: 'Dataset already exists' },
  VEILBOX_ERR_DATASET_NOT_FOUND: { status: 404, title: 'No such dataset' },
  VEILBOX_ERR_DATASET_NO_VERSION: { status: 409, title: 'Dataset has no loaded version' },
  VEILBOX_ERR_DATASET_VERSION_NOT_FOUND: { status: 404, title: 'No such dataset version' },

  // Sourced datasets (rows in the owner's PostgreSQL or Parquet files; docs/sources.md)
  VEILBOX_ERR_SOURCE_REFUSED: { status: 422, title: 'The source does not match the registration' },
  VEILBOX_ERR_SOURCE_WRITABLE: { status: 422, title: 'The source connection may write' },
  VEILBOX_ERR_SOURCE_BREAKS_DECLARATION: { status: 422, title: 'Source rows break the declaration' },
  VEILBOX_ERR_SOURCE_NOT_SOURCED: { status: 409, title: 'The dataset has no source' },
  VEILBOX_ERR_SOURCE_NO_UPLOADS: { status: 409, title: 'A sourced dataset takes snapshots, not uploads' },
  VEILBOX_ERR_SOURCE_SNAPSHOT_CHANGED: { status: 409, title: 'The source changed since the snapshot was registered' },
  VEILBOX_ERR_SOURCE_UNAVAILABLE: { status: 503, title: 'The source cannot be reached', publicDetail: true },
  VEILBOX_ERR_SOURCE_FAILED: { status: 502, title: 'The source failed the statement' },

  // Ingest
  VEILBOX_ERR_INGEST_BAD_ROW: { status: 400, title: 'A data row breaks the schema' },
  VEILBOX_ERR_INGEST_BAD_HEADER: { status: 400, title: 'The header does not match the schema' },
  VEILBOX_ERR_INGEST_MALFORMED: { status: 400, title: 'The upload cannot be parsed' },
  VEILBOX_ERR_INGEST_LINE_TOO_LONG: { status: 413, title: 'A line of the upload is too long' },
  VEILBOX_ERR_INGEST_FIELD_TOO_LONG: { status: 413, title: 'A field of the upload is too long' },
  VEILBOX_ERR_INGEST_BAD_ENCODING: { status: 400, title: 'The upload is not valid UTF-8' },
  VEILBOX_ERR_INGEST_EMPTY: { status: 400, title: 'The upload holds no data rows' },
  VEILBOX_ERR_INGEST_INCOMPLETE: { status: 400, title: 'The encrypted upload is incomplete or inconsistent' },
  VEILBOX_ERR_INGEST_PROFILE_MISMATCH: {
    status: 409,
    title: "The encrypted upload was made under other HE keys than the dataset's",
  },

  // Server-side failures
  VEILBOX_ERR_INTERNAL: { status: 500, title: 'Internal error' },

  // Queries: parsing (positions in `position`) and binding against a dataset
  VEILBOX_ERR_QUERY_SYNTAX: { status: 400, title: 'Query is not valid in the SQL subset' },
  VEILBOX_ERR_QUERY_BAD_CHARACTER: { status: 400, title: 'Query holds a character the language does not use' },
  VEILBOX_ERR_QUERY_UNTERMINATED: { status: 400, title: 'String, quoted name or comment is not closed' },
  VEILBOX_ERR_QUERY_BAD_LITERAL: { status: 400, title: 'Number literal cannot be represented exactly' },
  VEILBOX_ERR_QUERY_TOO_LARGE: { status: 400, title: 'Query exceeds a size or nesting limit' },
  VEILBOX_ERR_QUERY_RELEASE_TOO_LARGE: { status: 413, title: 'Query would release too much' },
  VEILBOX_ERR_QUERY_NOT_SELECT: { status: 400, title: 'Only SELECT queries are accepted' },
  VEILBOX_ERR_QUERY_MULTIPLE_STATEMENTS: { status: 400, title: 'Only one statement per query' },
  VEILBOX_ERR_QUERY_NOT_AGGREGATE: { status: 400, title: 'Query would release row-level data' },
  VEILBOX_ERR_QUERY_UNGROUPED_COLUMN: { status: 400, title: 'Column is neither aggregated nor grouped' },
  VEILBOX_ERR_QUERY_ROW_EXPRESSION: { status: 400, title: 'Row-level expressions are not allowed' },
  VEILBOX_ERR_QUERY_NESTED_AGGREGATE: { status: 400, title: 'Aggregates cannot be nested' },
  VEILBOX_ERR_QUERY_JOIN: { status: 400, title: 'Join is not supported' },
  VEILBOX_ERR_QUERY_PUBLIC_TABLE: { status: 400, title: 'A public table is joined, not queried alone' },
  VEILBOX_ERR_QUERY_SUBQUERY: { status: 400, title: 'Subqueries are not supported' },
  VEILBOX_ERR_QUERY_UNSUPPORTED: { status: 400, title: 'SQL feature not supported' },
  VEILBOX_ERR_QUERY_BAD_AGGREGATE: { status: 400, title: 'Aggregate call is invalid' },
  VEILBOX_ERR_QUERY_DUPLICATE_NAME: { status: 400, title: 'Two output columns have the same name' },
  VEILBOX_ERR_QUERY_BAD_GROUP_BY: { status: 400, title: 'Column cannot be grouped on' },
  VEILBOX_ERR_QUERY_BAD_ORDER_BY: { status: 400, title: 'ORDER BY does not name an output column' },
  VEILBOX_ERR_QUERY_BAD_HAVING: { status: 400, title: 'HAVING does not compare an output column with a value' },
  VEILBOX_ERR_QUERY_BAD_LIMIT: { status: 400, title: 'LIMIT is not a whole number in range' },
  VEILBOX_ERR_QUERY_BAD_BUCKET: { status: 400, title: 'BUCKET edges or width are invalid' },
  VEILBOX_ERR_QUERY_UNKNOWN_DATASET: { status: 400, title: 'Query names an unknown dataset' },
  VEILBOX_ERR_QUERY_UNKNOWN_COLUMN: { status: 400, title: 'Query names an unknown column' },
  VEILBOX_ERR_QUERY_UNKNOWN_CATEGORY: { status: 400, title: "Value is not among the column's declared categories" },
  VEILBOX_ERR_QUERY_TYPE_MISMATCH: { status: 400, title: "Literal or operator does not fit the column's type" },
  VEILBOX_ERR_QUERY_ID_COLUMN: { status: 400, title: 'Id columns cannot be aggregated or filtered on' },
  VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN: { status: 400, title: 'Column has no declared bounds' },
  VEILBOX_ERR_QUERY_HE_UNSUPPORTED: { status: 400, title: 'Encrypted column used where it cannot be computed' },
  VEILBOX_ERR_QUERY_BOUNDS_OUTSIDE_DECLARED: {
    status: 400,
    title: "Analyst bounds do not lie inside the column's declared bounds",
  },
  // Exact aggregate kernels (src/engine/exec)
  VEILBOX_ERR_EXEC_BAD_ARGUMENT: { status: 500, title: 'Aggregate kernel argument breaks the kernel contract' },
  VEILBOX_ERR_EXEC_TOO_MANY_GROUPS: { status: 400, title: 'GROUP BY has too many possible groups' },

  // Differential privacy: mechanisms, samplers and budgets (src/engine/dp)
  VEILBOX_ERR_DP_INVALID_PARAMETER: { status: 400, title: 'A privacy parameter is invalid' },
  VEILBOX_ERR_DP_DELTA_TOO_LARGE: { status: 400, title: 'Delta above what one answer may use' },
  VEILBOX_ERR_DP_NOT_FINITE: { status: 500, title: 'A released value was not a finite number', publicDetail: true },
  VEILBOX_ERR_DP_RANDOMNESS_UNAVAILABLE: { status: 500, title: 'Secure randomness unavailable' },
  // Grants: one purpose, one authorization (src/engine/policy)
  VEILBOX_ERR_POLICY_UNKNOWN_ANALYST: { status: 400, title: 'No analyst of that name' },
  VEILBOX_ERR_POLICY_GRANT_NOT_FOUND: { status: 404, title: 'No such grant' },
  VEILBOX_ERR_POLICY_NOT_YOUR_GRANT: { status: 403, title: 'The grant belongs to another analyst' },
  VEILBOX_ERR_POLICY_GRANT_REVOKED: { status: 403, title: 'The grant has been revoked' },
  VEILBOX_ERR_POLICY_GRANT_EXPIRED: { status: 403, title: 'The grant has expired' },
  VEILBOX_ERR_POLICY_DATASET_MISMATCH: { status: 403, title: 'The grant is for another dataset' },
  VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED: { status: 403, title: 'The query touches a column outside the grant' },
  VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED: { status: 403, title: 'The query uses an aggregate outside the grant' },

  // The data market (docs/market.md)
  VEILBOX_ERR_MARKET_NEGATIVE_LIST: { status: 403, title: 'The request touches the negative list' },
  VEILBOX_ERR_MARKET_LEVEL_POLICY: { status: 403, title: "The request breaks its data's level policy" },
  VEILBOX_ERR_MARKET_EPSILON_PER_ANSWER: { status: 403, title: "The query's epsilon passes its dataset level's limit" },
  VEILBOX_ERR_MARKET_BAD_APPLICATION: { status: 400, title: 'The application or decision is not valid' },
  VEILBOX_ERR_MARKET_APPLICATION_NOT_FOUND: { status: 404, title: 'No such application' },
  VEILBOX_ERR_MARKET_APPLICATION_CLOSED: { status: 409, title: 'The application is no longer pending' },
  VEILBOX_ERR_MARKET_NOT_A_PARTY: { status: 403, title: 'Not a party to this application' },
  VEILBOX_ERR_MARKET_SPENDING_CAP: { status: 403, title: "The answer's price passes the grant's money cap" },
  VEILBOX_ERR_MARKET_BAD_POLICY: { status: 400, title: 'The market setting is not valid' },
  VEILBOX_ERR_MARKET_NO_OWNER: { status: 400, title: 'No owner holds that name' },
  VEILBOX_ERR_POLICY_BAD_GRANT: { status: 400, title: 'The grant request breaks a rule' },
  VEILBOX_ERR_POLICY_TEMPLATES_ONLY: { status: 403, title: 'The grant runs approved templates only' },
  VEILBOX_ERR_POLICY_BAD_TEMPLATE: { status: 400, title: 'The template breaks a rule' },
  VEILBOX_ERR_POLICY_BAD_TEMPLATE_PARAMETER: { status: 400, title: 'A parameter value is outside its declaration' },
  VEILBOX_ERR_POLICY_TEMPLATE_NOT_FOUND: { status: 404, title: 'No such template' },

  // Sandboxes (worker pool)
  VEILBOX_ERR_SANDBOX_BUSY: { status: 503, title: 'Every sandbox is busy', publicDetail: true },
  VEILBOX_ERR_SANDBOX_TIMEOUT: { status: 504, title: 'Query ran past its deadline', publicDetail: true },
  VEILBOX_ERR_SANDBOX_OUT_OF_MEMORY: { status: 507, title: 'Query ran out of sandbox memory', publicDetail: true },
  VEILBOX_ERR_SANDBOX_CRASHED: { status: 500, title: 'Sandbox failed', publicDetail: true },
  VEILBOX_ERR_SANDBOX_TOO_LARGE: { status: 413, title: 'Query touches too much data for one task' },
  VEILBOX_ERR_SANDBOX_BAD_MESSAGE: { status: 500, title: 'Sandbox received a malformed task' },

  // Released answers
  VEILBOX_ERR_ANSWER_NOT_FOUND: { status: 404, title: 'No such released answer' },

  // Privacy budgets (the ledger)
  VEILBOX_ERR_BUDGET_NOT_SET: { status: 409, title: 'The dataset has no privacy budget' },
  VEILBOX_ERR_BUDGET_EXHAUSTED: { status: 403, title: 'Not enough privacy budget left' },
  VEILBOX_ERR_BUDGET_BELOW_SPENT: { status: 409, title: 'New total is below what is already spent' },
  VEILBOX_ERR_BUDGET_OVER_ANSWER_CAP: { status: 403, title: "Above the grant's epsilon per answer" },
  VEILBOX_ERR_BUDGET_WINDOW_EXHAUSTED: { status: 403, title: "Not enough left in the grant's budget window" },

  // Homomorphic encryption core (src/engine/he)
  VEILBOX_ERR_HE_INSECURE_PARAMETERS: { status: 400, title: 'HE parameters are weaker than 128-bit security' },
  VEILBOX_ERR_HE_INVALID_PARAMETERS: { status: 400, title: 'HE parameters are not valid' },
  VEILBOX_ERR_HE_CAPACITY_EXCEEDED: { status: 400, title: 'An encrypted aggregate could exceed the plain modulus' },
  VEILBOX_ERR_HE_UNSUPPORTED_COLUMN: { status: 400, title: 'Column cannot be homomorphically encrypted' },
  VEILBOX_ERR_HE_BAD_VALUE: { status: 400, title: 'Value cannot be encrypted under the column declaration' },
  VEILBOX_ERR_HE_BAD_CIPHERTEXT: { status: 400, title: "Ciphertext does not match the dataset's HE parameters" },
  VEILBOX_ERR_HE_BAD_ARGUMENT: { status: 500, title: 'Encrypted aggregate argument breaks the contract' },
  VEILBOX_ERR_HE_NOISE_BUDGET_EXHAUSTED: { status: 500, title: 'Ciphertext noise budget exhausted' },
  VEILBOX_ERR_HE_SEAL_FAILURE: { status: 500, title: 'Microsoft SEAL failed' },
  VEILBOX_ERR_HE_KEYS_MISSING: { status: 409, title: 'The dataset has encrypted columns but no HE keys yet' },

  // The key custodian (src/engine/he/key-holder.ts, keystore.ts; src/custodian)
  VEILBOX_ERR_CUSTODIAN_NO_KEYS: { status: 404, title: 'The custodian holds no HE keys for this dataset' },
  VEILBOX_ERR_CUSTODIAN_KEYS_EXIST: { status: 409, title: 'HE keys for this dataset already exist' },
  VEILBOX_ERR_CUSTODIAN_KEYSTORE_INSECURE: { status: 500, title: 'Key store files are open to other users' },
  VEILBOX_ERR_CUSTODIAN_KEYSTORE_CORRUPT: { status: 500, title: 'Key store content is damaged' },
  VEILBOX_ERR_CUSTODIAN_REFUSED: { status: 403, title: 'The custodian refused to decrypt' },
  VEILBOX_ERR_CUSTODIAN_UNAVAILABLE: { status: 503, title: 'The key custodian cannot be reached', publicDetail: true },

  // The native kernel addon (native/, src/engine/exec/native.ts, loader.ts)
  VEILBOX_ERR_NATIVE_UNAVAILABLE: { status: 500, title: 'Native kernel unavailable' },
  VEILBOX_ERR_NATIVE_BAD_CALL: { status: 500, title: 'Native kernel refused its arguments' },
  VEILBOX_ERR_NATIVE_FAILURE: { status: 500, title: 'Native kernel failed' },
} as const satisfies Record<string, ErrorCodeDef>

export type ErrorCode = keyof typeof ERROR_CODES
