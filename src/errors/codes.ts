/**
 * The one registry of veilbox error codes. Every code has its HTTP status and a
 * short title; `docs/errors.md` documents each one and a test keeps the two in
 * step. Codes are stable: clients may branch on them. Add, never rename.
 *
 * Areas: AUTH, REQUEST, CONFIG, DATASET, INGEST, QUERY, POLICY, BUDGET, DP,
 * SANDBOX, EXEC, HE, CUSTODIAN, AUDIT, RECEIPT, NATIVE, INTERNAL.
 */
export const ERROR_CODES = {
  // Authentication and authorization
  VEILBOX_ERR_AUTH_MISSING_KEY: { status: 401, title: 'API key missing' },
  VEILBOX_ERR_AUTH_INVALID_KEY: { status: 401, title: 'API key not recognised' },
  VEILBOX_ERR_AUTH_FORBIDDEN_ROLE: { status: 403, title: 'Role not allowed for this operation' },

  // Generic request problems
  VEILBOX_ERR_REQUEST_VALIDATION: { status: 400, title: 'Request does not match the schema' },
  VEILBOX_ERR_REQUEST_BAD_JSON: { status: 400, title: 'Request body is not valid JSON' },
  VEILBOX_ERR_REQUEST_FORBIDDEN_KEY: { status: 400, title: 'Request body uses a forbidden property name' },
  VEILBOX_ERR_REQUEST_TOO_LARGE: { status: 413, title: 'Request body too large' },
  VEILBOX_ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  VEILBOX_ERR_REQUEST_NOT_FOUND: { status: 404, title: 'Route not found' },
  VEILBOX_ERR_REQUEST_RATE_LIMITED: { status: 429, title: 'Too many requests' },

  // Configuration (start-up)
  VEILBOX_ERR_CONFIG_INVALID: { status: 500, title: 'Invalid configuration' },

  // API keys
  VEILBOX_ERR_KEY_NAME_TAKEN: { status: 409, title: 'A key with this name already exists' },
  VEILBOX_ERR_KEY_NOT_FOUND: { status: 404, title: 'No such key' },

  // Datasets and their schemas
  VEILBOX_ERR_DATASET_INVALID_SCHEMA: { status: 400, title: 'Dataset schema breaks a rule' },
  VEILBOX_ERR_DATASET_EXISTS: { status: 409, title: 'Dataset already exists' },
  VEILBOX_ERR_DATASET_NOT_FOUND: { status: 404, title: 'No such dataset' },
  VEILBOX_ERR_DATASET_NO_VERSION: { status: 409, title: 'Dataset has no loaded version' },
  VEILBOX_ERR_DATASET_VERSION_NOT_FOUND: { status: 404, title: 'No such dataset version' },

  // Ingest
  VEILBOX_ERR_INGEST_BAD_ROW: { status: 400, title: 'A data row breaks the schema' },
  VEILBOX_ERR_INGEST_BAD_HEADER: { status: 400, title: 'The header does not match the schema' },
  VEILBOX_ERR_INGEST_MALFORMED: { status: 400, title: 'The upload cannot be parsed' },
  VEILBOX_ERR_INGEST_EMPTY: { status: 400, title: 'The upload holds no data rows' },

  // Server-side failures
  VEILBOX_ERR_INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>

export type ErrorCode = keyof typeof ERROR_CODES
