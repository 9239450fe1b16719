/**
 * Every error code of the API (src/errors/codes.ts, docs/errors.md) and of
 * the console itself, in plain words: what happened, and what to do next.
 * test/api/plugins/console.test.ts checks that every registry code is here,
 * in both languages; a code the console does not know falls back to the
 * server's own title and detail.
 */
export interface ErrorText {
  readonly what: string
  readonly next: string
}

const INTERNAL_NEXT =
  'Nothing was changed or charged. Try again; if it happens again, give the request id below to an operator.'

export const errorsEn: Record<string, ErrorText> = {
  CONSOLE_NETWORK: {
    what: 'The console cannot reach veilbox.',
    next: 'Check that the service is running and your network connection works, then try again.',
  },
  CONSOLE_BAD_RESPONSE: {
    what: 'veilbox sent an answer the console cannot read.',
    next: 'Try again. If a proxy stands in front of veilbox, check that it passes the API through unchanged.',
  },
  CONSOLE_ABORTED: {
    what: 'The upload was cancelled.',
    next: 'Nothing was stored. Choose the file again to upload it.',
  },
  CONSOLE_FAILURE: {
    what: 'The console ran into a problem of its own.',
    next: 'Reload the page. If it happens again, report what you did and the detail below.',
  },
  CONSOLE_BAD_JSON: {
    what: 'The pasted text is not valid JSON.',
    next: 'Fix the place named below (a missing comma or quote is common), or use the form instead.',
  },

  VEILBOX_ERR_AUTH_MISSING_KEY: { what: 'No API key was sent.', next: 'Sign in again with your key.' },
  VEILBOX_ERR_AUTH_INVALID_KEY: {
    what: 'This API key is not valid, or it has been revoked.',
    next: 'Check that you pasted the whole key, or ask an operator for a new one.',
  },
  VEILBOX_ERR_AUTH_FORBIDDEN_ROLE: {
    what: 'Your key’s role may not do this.',
    next: 'Use a key with the role named below, or ask an operator.',
  },
  VEILBOX_ERR_AUTH_TOO_MANY_FAILURES: {
    what: 'Too many sign-in attempts failed.',
    next: 'Wait a minute, then sign in with a valid key.',
  },

  VEILBOX_ERR_REQUEST_VALIDATION: {
    what: 'Some fields are not filled in as required.',
    next: 'Correct the fields listed below and try again.',
  },
  VEILBOX_ERR_REQUEST_BAD_JSON: {
    what: 'The request body is not valid JSON.',
    next: 'Check the pasted JSON and try again.',
  },
  VEILBOX_ERR_REQUEST_FORBIDDEN_KEY: {
    what: 'The JSON uses a forbidden property name (__proto__ or constructor).',
    next: 'Remove that property and try again.',
  },
  VEILBOX_ERR_REQUEST_TOO_LARGE: {
    what: 'What you sent is larger than the service accepts.',
    next: 'Send less: split the file, or ask an operator to raise the upload limit.',
  },
  VEILBOX_ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE: {
    what: 'This kind of file is not accepted here.',
    next: 'Upload CSV (with a header row) or NDJSON.',
  },
  VEILBOX_ERR_REQUEST_NOT_FOUND: {
    what: 'The service has no such address.',
    next: 'The console and the service may be of different versions: reload the page.',
  },
  VEILBOX_ERR_REQUEST_RATE_LIMITED: {
    what: 'Too many requests in a short time.',
    next: 'Wait a minute, then try again.',
  },
  VEILBOX_ERR_REQUEST_TOO_DEEP: {
    what: 'The request nests too deeply.',
    next: 'Simplify the query: fewer nested conditions.',
  },
  VEILBOX_ERR_REQUEST_BAD_URL: {
    what: 'The address of the request is malformed.',
    next: 'Check the link; special characters must be percent-encoded.',
  },
  VEILBOX_ERR_REQUEST_FORBIDDEN_PATH: {
    what: 'That path is not allowed.',
    next: 'Open the console from its start page.',
  },
  VEILBOX_ERR_REQUEST_METHOD_NOT_ALLOWED: {
    what: 'This action is not available here.',
    next: 'Reload the page; if it persists, report it.',
  },
  VEILBOX_ERR_REQUEST_TIMEOUT: {
    what: 'The upload stopped arriving.',
    next: 'Check the connection and send it again.',
  },
  VEILBOX_ERR_REQUEST_ABORTED: { what: 'The request was cancelled.', next: 'Send it again if you still need it.' },
  VEILBOX_ERR_REQUEST_MALFORMED: {
    what: 'The request is malformed.',
    next: 'Reload the page; if it persists, report it.',
  },
  VEILBOX_ERR_REQUEST_HEADERS_TOO_LARGE: {
    what: 'The request is too large to read.',
    next: 'Sign in again; if it persists, clear the site data of the console.',
  },
  VEILBOX_ERR_REQUEST_TOO_MANY_OPEN: {
    what: 'Too many requests are still running.',
    next: 'Wait for the running ones to finish, then try again.',
  },
  VEILBOX_ERR_CONFIG_INVALID: {
    what: 'The service is configured wrongly.',
    next: 'An operator must fix the configuration named below and restart veilbox.',
  },
  VEILBOX_ERR_CONFIG_DATA_DIR_IN_USE: {
    what: 'Another veilbox server uses this data directory.',
    next: 'Stop the other server or start this one with its own data directory.',
  },
  VEILBOX_ERR_CONFIG_SECRET_MISMATCH: {
    what: "This server's sealing secret does not open the signing key stored in the database.",
    next: "Start it with the cluster's VEILBOX_SECRET_FILE (after a rotation, the new one).",
  },
  VEILBOX_ERR_STORE_UNAVAILABLE: {
    what: 'The database did not answer; nothing was changed.',
    next: 'Try again in a moment. If it lasts, tell the operator.',
  },

  VEILBOX_ERR_KEY_NAME_TAKEN: {
    what: 'An active key with this name exists already.',
    next: 'Choose another name, or revoke the existing key first.',
  },
  VEILBOX_ERR_KEY_NOT_FOUND: {
    what: 'There is no active key with this name.',
    next: 'Reload the list: it may have been revoked already.',
  },

  VEILBOX_ERR_DATASET_INVALID_SCHEMA: {
    what: 'The dataset definition breaks a rule.',
    next: 'Correct each field listed below (for example, private number columns need lower and upper bounds).',
  },
  VEILBOX_ERR_DATASET_EXISTS: {
    what: 'A dataset with this identifier exists already.',
    next: 'Choose another identifier, or upload a new version of the existing dataset.',
  },
  VEILBOX_ERR_DATASET_NOT_FOUND: {
    what: 'There is no such dataset.',
    next: 'Reload the catalog and pick one of the listed datasets.',
  },
  VEILBOX_ERR_DATASET_NO_VERSION: {
    what: 'This dataset has no data loaded yet.',
    next: 'An operator must upload a first version before it can be queried.',
  },
  VEILBOX_ERR_DATASET_VERSION_NOT_FOUND: {
    what: 'There is no such version of the dataset.',
    next: 'Leave the version out to use the latest, or pick a listed one.',
  },

  VEILBOX_ERR_SOURCE_REFUSED: {
    what: 'The source does not match the dataset’s registration.',
    next: 'Read the detail: a missing table or column, an incompatible type, or a connection the server does not define; fix the source or the declaration.',
  },
  VEILBOX_ERR_SOURCE_WRITABLE: {
    what: 'The source connection’s role may write to the table.',
    next: 'Connect through a role with SELECT only (docs/sources.md shows how to create one).',
  },
  VEILBOX_ERR_SOURCE_BREAKS_DECLARATION: {
    what: 'Rows of the snapshot break the dataset’s declaration, so it was not registered.',
    next: 'Fix the rows at the source (NaN, out-of-bounds values, undeclared categories, nulls) or the declaration, and register the snapshot again.',
  },
  VEILBOX_ERR_SOURCE_NOT_SOURCED: {
    what: 'This dataset has no source.',
    next: 'Upload a version instead of registering a snapshot.',
  },
  VEILBOX_ERR_SOURCE_NO_UPLOADS: {
    what: 'This dataset reads its rows from its source; it takes snapshots, not uploads.',
    next: 'Register a snapshot of the source instead.',
  },
  VEILBOX_ERR_SOURCE_SNAPSHOT_CHANGED: {
    what: 'The data at the source no longer matches the snapshot this version names. Nothing was charged.',
    next: 'An operator registers a new snapshot; then ask again.',
  },
  VEILBOX_ERR_SOURCE_UNAVAILABLE: {
    what: 'The dataset’s source cannot be reached. Nothing was charged.',
    next: 'Try again in a moment.',
  },
  VEILBOX_ERR_SOURCE_FAILED: {
    what: 'The dataset’s source refused the query. Nothing was charged.',
    next: 'Try again later; an operator has the details in the audit log.',
  },

  VEILBOX_ERR_MARKET_NEGATIVE_LIST: {
    what: 'This use touches a rule of the negative list: it may never be granted. Nothing was stored.',
    next: 'The rule and its reason are named below. Leave out the column or dataset it names, or choose another scenario category.',
  },
  VEILBOX_ERR_MARKET_LEVEL_POLICY: {
    what: 'The level of a requested column forbids this use: its protection or the scenario category is not allowed at that level.',
    next: 'The rule is named below. Leave out the column, or choose a scenario category its level allows.',
  },
  VEILBOX_ERR_MARKET_EPSILON_PER_ANSWER: {
    what: 'This answer would spend more ε than the dataset’s level allows for one answer. Nothing was charged.',
    next: 'Ask for less ε in this query; the limit is named below.',
  },
  VEILBOX_ERR_MARKET_BAD_APPLICATION: {
    what: 'The application is not valid: an unknown scenario category, column or aggregate, or a narrowing that widens.',
    next: 'Fix the field named below and submit again.',
  },
  VEILBOX_ERR_MARKET_APPLICATION_NOT_FOUND: {
    what: 'There is no such application, or it is not one you may see.',
    next: 'Reload the list of applications.',
  },
  VEILBOX_ERR_MARKET_APPLICATION_CLOSED: {
    what: 'This application is no longer pending: it was decided, withdrawn or has expired.',
    next: 'Reload the list to see where it stands; a new use needs a new application.',
  },
  VEILBOX_ERR_MARKET_NOT_A_PARTY: {
    what: 'You are not a party to this application, or you have decided on it already.',
    next: 'Only the platform operator and the owners of the datasets it names decide, once each.',
  },
  VEILBOX_ERR_MARKET_SPENDING_CAP: {
    what: 'This answer’s price would pass the grant’s spending cap. Nothing was charged.',
    next: 'Ask a cheaper question (less ε), or apply for a grant with a higher cap.',
  },
  VEILBOX_ERR_MARKET_BAD_POLICY: {
    what: 'The policy, levels or price list do not validate, so nothing was changed.',
    next: 'Fix the field named below (prices are whole fen, at least 0; every level and scenario must be known) and save again.',
  },
  VEILBOX_ERR_MARKET_NO_OWNER: {
    what: 'No active owner key holds this name.',
    next: 'Create a key with the owner role and this name under Keys first, or check the spelling.',
  },

  VEILBOX_ERR_INGEST_BAD_ROW: {
    what: 'A row of the file breaks the dataset’s rules, so nothing was stored.',
    next: 'Fix the row named below (row number, line and column are given) and upload the whole file again.',
  },
  VEILBOX_ERR_INGEST_BAD_HEADER: {
    what: 'The file’s header row does not match the dataset’s columns.',
    next: 'Name every column exactly once in the header, with no unknown column.',
  },
  VEILBOX_ERR_INGEST_MALFORMED: {
    what: 'The file cannot be read as CSV or NDJSON.',
    next: 'Check the line named below (an unclosed quote is common) and upload again.',
  },
  VEILBOX_ERR_INGEST_LINE_TOO_LONG: {
    what: 'A line of the file is too long.',
    next: 'Check the file: a missing line break or quote can run many rows together.',
  },
  VEILBOX_ERR_INGEST_FIELD_TOO_LONG: {
    what: 'A value in the file is too long.',
    next: 'Check the row and column named; values this long are not data the dataset declares.',
  },
  VEILBOX_ERR_INGEST_BAD_ENCODING: {
    what: 'The file is not in UTF-8.',
    next: 'Save the file as UTF-8 (not GBK or Latin-1) and upload it again.',
  },
  VEILBOX_ERR_INGEST_INCOMPLETE: {
    what: 'The encrypted file is incomplete, so nothing was stored.',
    next: 'Write the file again with veilbox encrypt and upload the whole of it.',
  },
  VEILBOX_ERR_INGEST_PROFILE_MISMATCH: {
    what: 'The encrypted file was made for another dataset or under other encryption keys.',
    next: 'Encrypt again with the custodian’s current keys for this dataset.',
  },
  VEILBOX_ERR_INGEST_EMPTY: {
    what: 'The file has no data rows.',
    next: 'Upload a file with at least one row under the header.',
  },
  VEILBOX_ERR_INTERNAL: { what: 'Something failed inside veilbox.', next: INTERNAL_NEXT },

  VEILBOX_ERR_QUERY_SYNTAX: {
    what: 'The query is not written in a form veilbox understands.',
    next: 'Look at the place named below; the query language is described in docs/query-language.md.',
  },
  VEILBOX_ERR_QUERY_BAD_CHARACTER: {
    what: 'The query holds a character veilbox does not accept.',
    next: 'Replace it with the plain ASCII one (for example a full-width comma with a comma).',
  },
  VEILBOX_ERR_QUERY_UNTERMINATED: {
    what: 'A quote or comment in the query is not closed.',
    next: 'Close it at the place named below.',
  },
  VEILBOX_ERR_QUERY_BAD_LITERAL: {
    what: 'A number in the query is malformed or too large.',
    next: 'Write it as an ordinary decimal number.',
  },
  VEILBOX_ERR_QUERY_TOO_LARGE: {
    what: 'The query is too long or too complex.',
    next: 'Make it smaller: fewer items, conditions or groups.',
  },
  VEILBOX_ERR_QUERY_RELEASE_TOO_LARGE: {
    what: 'The answer would be too large.',
    next: 'Group by fewer columns or ask for fewer aggregates at once.',
  },
  VEILBOX_ERR_QUERY_NOT_SELECT: {
    what: 'Only SELECT queries can run.',
    next: 'Ask with SELECT and aggregates; data cannot be changed through queries.',
  },
  VEILBOX_ERR_QUERY_MULTIPLE_STATEMENTS: {
    what: 'The text holds more than one query.',
    next: 'Send one SELECT at a time.',
  },
  VEILBOX_ERR_QUERY_NOT_AGGREGATE: {
    what: 'This query would show individual rows, which never leave veilbox.',
    next: 'Ask for aggregates such as COUNT(*), SUM(col) or AVG(col), grouped by public columns.',
  },
  VEILBOX_ERR_QUERY_UNGROUPED_COLUMN: {
    what: 'A selected column is neither aggregated nor grouped.',
    next: 'Add it to GROUP BY, or put it inside an aggregate.',
  },
  VEILBOX_ERR_QUERY_ROW_EXPRESSION: {
    what: 'Calculations on row values are not allowed.',
    next: 'Give aggregates a bare column, and compare columns with fixed values only.',
  },
  VEILBOX_ERR_QUERY_NESTED_AGGREGATE: {
    what: 'An aggregate is nested inside another one.',
    next: 'Use one aggregate per output column.',
  },
  VEILBOX_ERR_QUERY_JOIN: {
    what: 'This join is not one veilbox runs.',
    next: 'Join two datasets of one unit space on their privacy units (JOIN ... USING (unit)), or a public table on its key; the detail says what is missing.',
  },
  VEILBOX_ERR_QUERY_PUBLIC_TABLE: {
    what: 'A public reference table has no privacy unit to answer for on its own.',
    next: 'Join it to a dataset on its key (FROM d JOIN table ON d.column = table.key) and group or filter by its columns.',
  },
  VEILBOX_ERR_QUERY_SUBQUERY: {
    what: 'Queries inside queries are not allowed.',
    next: 'Ask two separate questions instead.',
  },
  VEILBOX_ERR_QUERY_UNSUPPORTED: {
    what: 'This part of SQL is not supported by veilbox.',
    next: 'The detail below says why and what to use instead.',
  },
  VEILBOX_ERR_QUERY_BAD_AGGREGATE: {
    what: 'An aggregate has the wrong arguments.',
    next: 'Check the aggregate named below (for example QUANTILE needs a column and p between 0 and 1).',
  },
  VEILBOX_ERR_QUERY_DUPLICATE_NAME: {
    what: 'Two output columns have the same name.',
    next: 'Give one of them another name with AS.',
  },
  VEILBOX_ERR_QUERY_BAD_GROUP_BY: {
    what: 'This column cannot be grouped on.',
    next: 'Group only by public category or yes/no columns with declared values.',
  },
  VEILBOX_ERR_QUERY_BAD_ORDER_BY: {
    what: 'ORDER BY names something that is not an output column.',
    next: 'Sort by an output column’s name or alias.',
  },
  VEILBOX_ERR_QUERY_BAD_HAVING: {
    what: 'HAVING names something that is not an output column, or compares an aggregate with something other than a number.',
    next: 'Use an output column’s name or alias, compared with a number; HAVING filters the released (noisy) rows.',
  },
  VEILBOX_ERR_QUERY_BAD_BUCKET: {
    what: 'The BUCKET edges or width are invalid.',
    next: "Give finite edges inside the column's declared bounds, and a width that divides the range into 1 to 10,000 buckets.",
  },
  VEILBOX_ERR_QUERY_BAD_LIMIT: {
    what: 'LIMIT is not a whole number in range.',
    next: 'Write a whole number from 1 to 1,000,000.',
  },
  VEILBOX_ERR_QUERY_UNKNOWN_DATASET: {
    what: 'The query reads a dataset you cannot query.',
    next: 'Use the dataset of your grant in FROM (see the column panel).',
  },
  VEILBOX_ERR_QUERY_UNKNOWN_COLUMN: {
    what: 'The dataset has no column of this name.',
    next: 'Pick a name from the column panel; the detail may suggest the nearest one.',
  },
  VEILBOX_ERR_QUERY_UNKNOWN_CATEGORY: {
    what: 'A value in WHERE is not one of the column’s categories.',
    next: 'Use one of the categories listed below (spelling counts).',
  },
  VEILBOX_ERR_QUERY_TYPE_MISMATCH: {
    what: 'A value or comparison does not fit the column’s type.',
    next: 'Compare numbers with numbers, categories with their values (= or IN), yes/no columns with TRUE or FALSE.',
  },
  VEILBOX_ERR_QUERY_ID_COLUMN: {
    what: 'Identifier columns cannot be aggregated or filtered on.',
    next: 'Count rows with COUNT(*) instead.',
  },
  VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN: {
    what: 'This column has no declared bounds, so its sums and averages cannot be protected.',
    next: 'Ask an operator to declare lower and upper bounds for it.',
  },
  VEILBOX_ERR_QUERY_HE_UNSUPPORTED: {
    what: 'Encrypted columns work only in COUNT, SUM, AVG, VAR and STDDEV.',
    next: 'Do not filter, group or take quantiles on an encrypted column.',
  },
  VEILBOX_ERR_QUERY_BOUNDS_OUTSIDE_DECLARED: {
    what: "The bounds given in the query do not lie inside the column's declared bounds.",
    next: 'Choose bounds within the declared range named below, or leave them out.',
  },
  VEILBOX_ERR_EXEC_BAD_ARGUMENT: { what: 'veilbox hit an internal error while computing.', next: INTERNAL_NEXT },
  VEILBOX_ERR_EXEC_TOO_MANY_GROUPS: {
    what: 'The grouping makes too many groups.',
    next: 'Group by fewer or smaller columns (at most 4 columns).',
  },
  VEILBOX_ERR_DP_INVALID_PARAMETER: {
    what: 'A privacy setting is out of its allowed range.',
    next: 'Check epsilon, delta or the interval level; with many aggregates, raise epsilon so each gets a share.',
  },
  VEILBOX_ERR_DP_DELTA_TOO_LARGE: {
    what: 'The delta asked for is larger than one answer may use.',
    next: "Ask for a smaller delta, or leave it out to use the largest allowed (the grant's delta, at most 1e-5).",
  },
  VEILBOX_ERR_DP_NOT_FINITE: {
    what: 'The answer could not be computed exactly.',
    next: 'Report it to the operator with the request id; nothing was charged.',
  },
  VEILBOX_ERR_DP_RANDOMNESS_UNAVAILABLE: {
    what: 'The server’s secure random generator failed, so no noise could be drawn.',
    next: INTERNAL_NEXT,
  },

  VEILBOX_ERR_POLICY_UNKNOWN_ANALYST: {
    what: 'The analyst named has no active analyst key.',
    next: 'Create an analyst key with that name first (under Keys).',
  },
  VEILBOX_ERR_POLICY_GRANT_NOT_FOUND: {
    what: 'There is no such grant.',
    next: 'Pick one of your grants from the list.',
  },
  VEILBOX_ERR_POLICY_NOT_YOUR_GRANT: {
    what: 'This grant was made for another analyst.',
    next: 'Use one of your own grants.',
  },
  VEILBOX_ERR_POLICY_GRANT_REVOKED: { what: 'This grant was revoked.', next: 'Ask an operator for a new grant.' },
  VEILBOX_ERR_POLICY_GRANT_EXPIRED: { what: 'This grant has expired.', next: 'Ask an operator for a new grant.' },
  VEILBOX_ERR_POLICY_DATASET_MISMATCH: {
    what: 'The query reads a dataset other than the grant’s.',
    next: 'Query the grant’s dataset, or choose a grant for this dataset.',
  },
  VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED: {
    what: 'The query uses a column your grant does not cover.',
    next: 'Leave that column out, or ask an operator to widen the grant.',
  },
  VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED: {
    what: 'The query uses an aggregate your grant does not allow.',
    next: 'Use an allowed aggregate, or ask an operator to widen the grant.',
  },
  VEILBOX_ERR_POLICY_BAD_GRANT: {
    what: 'The grant cannot be made as filled in.',
    next: 'Check the field named below (the expiry must be in the future; columns must exist).',
  },
  VEILBOX_ERR_POLICY_TEMPLATES_ONLY: {
    what: 'This grant runs approved templates only.',
    next: 'Nothing ran. Choose one of the templates listed for your grant and run it with values.',
  },
  VEILBOX_ERR_POLICY_BAD_TEMPLATE: {
    what: 'The template cannot be approved as written.',
    next: 'Declare every :name the SQL uses, once each, with a range (or a category column with categories).',
  },
  VEILBOX_ERR_POLICY_BAD_TEMPLATE_PARAMETER: {
    what: 'A value is outside what the template declares for it.',
    next: 'Nothing ran or was charged. Fix the parameter named below: its type, its range or its categories.',
  },
  VEILBOX_ERR_POLICY_TEMPLATE_NOT_FOUND: {
    what: 'There is no such template that you may run.',
    next: 'Pick one from the templates list; it shows those of datasets your grants cover.',
  },

  VEILBOX_ERR_SANDBOX_BUSY: {
    what: 'veilbox is busy with other queries.',
    next: 'Nothing was charged. Wait a few seconds and run it again.',
  },
  VEILBOX_ERR_SANDBOX_TIMEOUT: {
    what: 'The query took too long and was stopped.',
    next: 'Nothing was charged. Ask a simpler question (fewer columns or groups).',
  },
  VEILBOX_ERR_SANDBOX_OUT_OF_MEMORY: {
    what: 'The query needed too much memory and was stopped.',
    next: 'Nothing was charged. Ask a simpler question (fewer columns or groups).',
  },
  VEILBOX_ERR_SANDBOX_CRASHED: { what: 'The query’s sandbox failed.', next: INTERNAL_NEXT },
  VEILBOX_ERR_SANDBOX_TOO_LARGE: {
    what: 'The query would read too much data at once.',
    next: 'Use fewer columns in one query.',
  },
  VEILBOX_ERR_SANDBOX_BAD_MESSAGE: { what: 'veilbox hit an internal error in its sandbox.', next: INTERNAL_NEXT },

  VEILBOX_ERR_ANSWER_NOT_FOUND: {
    what: 'There is no such answer among yours.',
    next: 'Open answers from the History list.',
  },

  VEILBOX_ERR_BUDGET_NOT_SET: {
    what: 'This dataset has no privacy budget yet.',
    next: 'An operator must set its budget (under Budgets) before queries can run.',
  },
  VEILBOX_ERR_BUDGET_EXHAUSTED: {
    what: 'Not enough privacy budget is left for this query.',
    next: 'Nothing was computed or charged. Ask with less epsilon, or ask an operator for a larger grant.',
  },
  VEILBOX_ERR_BUDGET_BELOW_SPENT: {
    what: 'The new total is below what was already spent.',
    next: 'Set a total at least as large as the amount spent.',
  },
  VEILBOX_ERR_BUDGET_OVER_ANSWER_CAP: {
    what: 'This query asks for more epsilon than the grant allows for one answer.',
    next: 'Nothing was run or charged. Ask with an epsilon at most the cap shown below.',
  },
  VEILBOX_ERR_BUDGET_WINDOW_EXHAUSTED: {
    what: "Not enough is left in the grant's current budget window.",
    next: 'Nothing was charged. Wait until the window refreshes (shown below), or ask with less epsilon.',
  },

  VEILBOX_ERR_HE_INSECURE_PARAMETERS: {
    what: 'The encryption parameters are not secure enough.',
    next: 'Use the parameters veilbox chooses.',
  },
  VEILBOX_ERR_HE_INVALID_PARAMETERS: {
    what: 'The encryption parameters are malformed.',
    next: 'Use the parameters veilbox chooses.',
  },
  VEILBOX_ERR_HE_CAPACITY_EXCEEDED: {
    what: 'An encrypted sum could grow too large to compute safely.',
    next: 'Narrow the column’s bounds or use fewer rows; the detail gives the numbers.',
  },
  VEILBOX_ERR_HE_UNSUPPORTED_COLUMN: {
    what: 'This column cannot be encrypted as declared.',
    next: 'Change the column’s definition as the detail says.',
  },
  VEILBOX_ERR_HE_BAD_VALUE: {
    what: 'A value to encrypt is outside the column’s rules.',
    next: 'Fix the row named below; nothing was encrypted.',
  },
  VEILBOX_ERR_HE_BAD_CIPHERTEXT: {
    what: 'The encrypted data do not fit the dataset’s current keys.',
    next: 'Encrypt the data again with the dataset’s current keys.',
  },
  VEILBOX_ERR_HE_KEYS_MISSING: {
    what: 'This dataset has encrypted columns but no encryption keys yet.',
    next: 'The key custodian must create the dataset’s keys before data can be uploaded or queried.',
  },
  VEILBOX_ERR_HE_BAD_ARGUMENT: { what: 'veilbox hit an internal error in encrypted computing.', next: INTERNAL_NEXT },
  VEILBOX_ERR_HE_NOISE_BUDGET_EXHAUSTED: {
    what: 'An encrypted result could not be decrypted correctly, so nothing was released.',
    next: INTERNAL_NEXT,
  },
  VEILBOX_ERR_HE_SEAL_FAILURE: { what: 'The encryption library failed.', next: INTERNAL_NEXT },

  VEILBOX_ERR_CUSTODIAN_NO_KEYS: {
    what: 'The key custodian has no encryption keys for this dataset.',
    next: 'The custodian must create them first (veilbox custodian).',
  },
  VEILBOX_ERR_CUSTODIAN_KEYS_EXIST: {
    what: 'This dataset already has encryption keys.',
    next: 'Keep using them: existing encrypted data depend on them.',
  },
  VEILBOX_ERR_CUSTODIAN_KEYSTORE_INSECURE: {
    what: 'The custodian’s key files can be read by other users.',
    next: 'The custodian must restrict the file permissions before use.',
  },
  VEILBOX_ERR_CUSTODIAN_KEYSTORE_CORRUPT: {
    what: 'The custodian’s key files are damaged or missing.',
    next: 'Restore the key directory from a backup.',
  },
  VEILBOX_ERR_CUSTODIAN_REFUSED: {
    what: 'The key custodian refused to decrypt this result.',
    next: 'Nothing was decrypted. Ask an aggregate question over enough rows.',
  },

  VEILBOX_ERR_CUSTODIAN_UNAVAILABLE: {
    what: 'The key custodian does not answer, so encrypted results cannot be decrypted now.',
    next: 'Nothing was charged. Try again shortly; queries without encrypted columns still work.',
  },

  VEILBOX_ERR_NATIVE_UNAVAILABLE: {
    what: 'The fast native kernel is not available.',
    next: 'An operator can rebuild it (npm rebuild); queries still run without it.',
  },
  VEILBOX_ERR_NATIVE_BAD_CALL: { what: 'veilbox hit an internal error in its native kernel.', next: INTERNAL_NEXT },
  VEILBOX_ERR_NATIVE_FAILURE: { what: 'veilbox’s native kernel failed.', next: INTERNAL_NEXT },
}
