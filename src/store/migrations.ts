// Long on purpose: the schema's history, append-only (a released migration is never edited or moved), reads best in one place.
import { randomBytes } from 'node:crypto'
import { versionCommitment } from './fingerprint.js'

/**
 * Versioned schema migrations, applied in order at start inside one
 * transaction each; `PRAGMA user_version` records the last one applied.
 * Never edit a released migration: add a new one.
 */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
  /** A step SQL cannot do (random salts from node:crypto), run after `sql` in the same transaction. */
  readonly run?: (db: import('better-sqlite3').Database) => void
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'keys, datasets, versions, column chunks, audit chain',
    sql: `
      CREATE TABLE api_keys (
        key_id      TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('operator', 'analyst', 'custodian')),
        key_hash    BLOB NOT NULL,
        created_at  TEXT NOT NULL,
        created_by  TEXT NOT NULL,
        revoked_at  TEXT
      );
      CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

      CREATE TABLE datasets (
        id          TEXT PRIMARY KEY,
        spec        TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        created_by  TEXT NOT NULL
      );

      -- An upload is staged chunk by chunk and becomes visible only when a
      -- version row points at it; a failed or interrupted upload leaves no version.
      CREATE TABLE uploads (
        id          INTEGER PRIMARY KEY,
        dataset_id  TEXT NOT NULL REFERENCES datasets (id),
        state       TEXT NOT NULL CHECK (state IN ('staging', 'committed')),
        started_at  TEXT NOT NULL
      );

      CREATE TABLE dataset_versions (
        dataset_id  TEXT NOT NULL REFERENCES datasets (id),
        version     INTEGER NOT NULL CHECK (version >= 1),
        upload_id   INTEGER NOT NULL UNIQUE REFERENCES uploads (id),
        rows        INTEGER NOT NULL,
        sha256      TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        created_by  TEXT NOT NULL,
        PRIMARY KEY (dataset_id, version)
      );

      CREATE TABLE column_chunks (
        upload_id   INTEGER NOT NULL REFERENCES uploads (id),
        column_name TEXT NOT NULL,
        chunk       INTEGER NOT NULL,
        rows        INTEGER NOT NULL,
        encoding    TEXT NOT NULL,
        data        BLOB NOT NULL,
        nulls       BLOB,
        PRIMARY KEY (upload_id, column_name, chunk)
      ) WITHOUT ROWID;

      CREATE TABLE column_dictionaries (
        upload_id   INTEGER NOT NULL REFERENCES uploads (id),
        column_name TEXT NOT NULL,
        dictionary  TEXT NOT NULL,
        PRIMARY KEY (upload_id, column_name)
      ) WITHOUT ROWID;

      CREATE TABLE audit_log (
        seq             INTEGER PRIMARY KEY,
        time            TEXT NOT NULL,
        actor           TEXT NOT NULL,
        role            TEXT NOT NULL,
        action          TEXT NOT NULL,
        dataset         TEXT,
        version         INTEGER,
        grant_id        TEXT,
        purpose         TEXT,
        query_hash      TEXT,
        charged_epsilon TEXT,
        charged_delta   TEXT,
        outcome         TEXT NOT NULL,
        detail          TEXT,
        prev_hash       TEXT NOT NULL,
        hash            TEXT NOT NULL
      );
      CREATE INDEX audit_log_dataset ON audit_log (dataset, seq);
      CREATE INDEX audit_log_actor ON audit_log (actor, seq);
    `,
  },
  {
    version: 2,
    name: 'privacy budgets, grants, released answers',
    sql: `
      -- Budgets are exact integers: epsilon in micro-units (1e-6), delta in
      -- femto-units (1e-15), accumulated zCDP rho in pico-units (1e-12). Every
      -- charge is one guarded UPDATE (spent + charge <= total).
      CREATE TABLE dataset_budgets (
        dataset_id     TEXT PRIMARY KEY REFERENCES datasets (id),
        epsilon_total  INTEGER NOT NULL CHECK (epsilon_total >= 0),
        epsilon_spent  INTEGER NOT NULL DEFAULT 0 CHECK (epsilon_spent >= 0),
        delta_total    INTEGER NOT NULL CHECK (delta_total >= 0),
        delta_spent    INTEGER NOT NULL DEFAULT 0 CHECK (delta_spent >= 0),
        rho_spent      INTEGER NOT NULL DEFAULT 0 CHECK (rho_spent >= 0),
        updated_at     TEXT NOT NULL,
        CHECK (epsilon_spent <= epsilon_total),
        CHECK (delta_spent <= delta_total)
      );

      CREATE TABLE grants (
        id             TEXT PRIMARY KEY,
        analyst        TEXT NOT NULL,
        dataset_id     TEXT NOT NULL REFERENCES datasets (id),
        purpose        TEXT NOT NULL,
        columns        TEXT,
        aggregates     TEXT,
        epsilon_total  INTEGER NOT NULL CHECK (epsilon_total > 0),
        epsilon_spent  INTEGER NOT NULL DEFAULT 0 CHECK (epsilon_spent >= 0),
        delta_total    INTEGER NOT NULL CHECK (delta_total >= 0),
        delta_spent    INTEGER NOT NULL DEFAULT 0 CHECK (delta_spent >= 0),
        rho_spent      INTEGER NOT NULL DEFAULT 0 CHECK (rho_spent >= 0),
        expires_at     TEXT NOT NULL,
        created_at     TEXT NOT NULL,
        created_by     TEXT NOT NULL,
        revoked_at     TEXT,
        CHECK (epsilon_spent <= epsilon_total),
        CHECK (delta_spent <= delta_total)
      );
      CREATE INDEX grants_analyst ON grants (analyst);

      -- Released answers: what a repeat returns, free, and what GET /v1/queries/{id} reads.
      CREATE TABLE answers (
        query_id       TEXT PRIMARY KEY,
        grant_id       TEXT NOT NULL REFERENCES grants (id),
        analyst        TEXT NOT NULL,
        dataset_id     TEXT NOT NULL,
        version        INTEGER NOT NULL,
        cache_key      TEXT NOT NULL,
        query_hash     TEXT NOT NULL,
        body           TEXT NOT NULL,
        epsilon_micro  INTEGER NOT NULL,
        delta_femto    INTEGER NOT NULL,
        created_at     TEXT NOT NULL,
        UNIQUE (grant_id, cache_key)
      );
    `,
  },
  {
    version: 3,
    name: 'HE: public key material, encrypted column batches',
    sql: `
      -- What the key custodian published for a dataset: the public profile and,
      -- per SEAL context, the public and Galois keys. Never a secret key: the
      -- custodian keeps those in its own key directory, outside this database.
      CREATE TABLE he_keys (
        dataset_id  TEXT PRIMARY KEY REFERENCES datasets (id),
        profile_id  TEXT NOT NULL,
        profile     TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        created_by  TEXT NOT NULL
      );
      CREATE TABLE he_public_keys (
        dataset_id    TEXT NOT NULL REFERENCES he_keys (dataset_id),
        context       INTEGER NOT NULL,
        public_key    BLOB NOT NULL,
        galois_keys   BLOB NOT NULL,
        galois_steps  TEXT NOT NULL,
        PRIMARY KEY (dataset_id, context)
      );

      -- Under which profile an upload's he columns were encrypted, and by whom:
      -- the data owner (client-side, secret key) or the service (public key, on arrival).
      CREATE TABLE he_uploads (
        upload_id     INTEGER PRIMARY KEY REFERENCES uploads (id),
        profile_id    TEXT NOT NULL,
        encrypted_by  TEXT NOT NULL CHECK (encrypted_by IN ('owner', 'service'))
      );

      -- One row per ciphertext: a batch of one he column's values (or squares)
      -- under one SEAL context. The plaintext of an he column is never stored.
      CREATE TABLE he_ciphertexts (
        upload_id   INTEGER NOT NULL REFERENCES uploads (id),
        column_name TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('values', 'squares')),
        context     INTEGER NOT NULL,
        batch       INTEGER NOT NULL,
        data        BLOB NOT NULL,
        UNIQUE (upload_id, column_name, kind, context, batch)
      );
    `,
  },
  {
    version: 4,
    name: 'opaque audit record ids; salted version commitments; listed datasets',
    sql: `
      -- A random id per audit record: what receipts name instead of the
      -- record's position, which counts every principal's activity. Records
      -- written before this migration have none (their hashes stay as they were).
      ALTER TABLE audit_log ADD COLUMN record_id TEXT;
      CREATE UNIQUE INDEX audit_log_record_id ON audit_log (record_id) WHERE record_id IS NOT NULL;

      -- A version's content hash is for operators and auditors; analysts see a
      -- commitment to it under a random per-version salt (docs/privacy-model.md).
      ALTER TABLE dataset_versions ADD COLUMN salt BLOB;
      ALTER TABLE dataset_versions ADD COLUMN commitment TEXT;

      -- Datasets analysts see without holding a grant on them.
      ALTER TABLE datasets ADD COLUMN listed INTEGER NOT NULL DEFAULT 0 CHECK (listed IN (0, 1));
    `,
    run(db) {
      const rows = db.prepare('SELECT dataset_id, version, sha256 FROM dataset_versions').all() as {
        dataset_id: string
        version: number
        sha256: string
      }[]
      const set = db.prepare(
        'UPDATE dataset_versions SET salt = ?, commitment = ? WHERE dataset_id = ? AND version = ?',
      )
      for (const r of rows) {
        const salt = randomBytes(32)
        set.run(salt, versionCommitment(salt, r.sha256), r.dataset_id, r.version)
      }
    },
  },
  {
    version: 5,
    name: 'signed audit chain heads',
    sql: `
      -- The chain head signed with the service's Ed25519 key, at intervals and
      -- on every 'audit head': rewriting a record below a signed head, and
      -- recomputing every later hash, no longer passes verification without
      -- the key.
      CREATE TABLE audit_heads (
        seq        INTEGER PRIMARY KEY,
        hash       TEXT NOT NULL,
        signed_at  TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        signature  TEXT NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'principals with stable ids',
    sql: `
      -- Who holds a key is a principal with a stable id, not a name: a name
      -- revoked and issued again is a new principal, who inherits none of the
      -- old one's grants, answers or rate-limit bucket. A key rotation keeps
      -- the principal.
      CREATE TABLE principals (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('operator', 'analyst', 'custodian')),
        created_at  TEXT NOT NULL,
        created_by  TEXT NOT NULL
      );
      ALTER TABLE api_keys ADD COLUMN principal_id TEXT REFERENCES principals (id);
      ALTER TABLE grants ADD COLUMN analyst_id TEXT;
      ALTER TABLE answers ADD COLUMN analyst_id TEXT;
      CREATE INDEX grants_analyst_id ON grants (analyst_id);
      CREATE INDEX answers_analyst_id ON answers (analyst_id, created_at);
    `,
    // Keys, grants and answers made before: one principal per name, as they were treated then.
    run(db) {
      const names = new Map<string, { role: string; created_at: string; created_by: string }>()
      for (const r of db
        .prepare('SELECT name, role, created_at, created_by FROM api_keys ORDER BY created_at')
        .all() as { name: string; role: string; created_at: string; created_by: string }[]) {
        if (!names.has(r.name)) names.set(r.name, r)
      }
      for (const r of db
        .prepare(
          "SELECT analyst AS name, created_at, created_by FROM grants UNION SELECT analyst, created_at, 'system' FROM answers",
        )
        .all() as { name: string; created_at: string; created_by: string }[]) {
        if (!names.has(r.name))
          names.set(r.name, { role: 'analyst', created_at: r.created_at, created_by: r.created_by })
      }
      const insert = db.prepare(
        'INSERT INTO principals (id, name, role, created_at, created_by) VALUES (?, ?, ?, ?, ?)',
      )
      for (const [name, r] of names) {
        const id = newPrincipalId()
        insert.run(id, name, r.role, r.created_at, r.created_by)
        db.prepare('UPDATE api_keys SET principal_id = ? WHERE name = ?').run(id, name)
        db.prepare('UPDATE grants SET analyst_id = ? WHERE analyst = ?').run(id, name)
        db.prepare('UPDATE answers SET analyst_id = ? WHERE analyst = ?').run(id, name)
      }
    },
  },
  {
    version: 7,
    name: 'the chain head row; sealed service keys',
    sql: `
      -- The chain's head in one row, read and moved by every append under the
      -- write lock. On PostgreSQL (pg-migrations.ts) it is the row that
      -- concurrent nodes lock last, FOR UPDATE; SQLite keeps it alike so the
      -- two stores run the same statements.
      CREATE TABLE audit_chain_head (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        seq   INTEGER NOT NULL,
        hash  TEXT NOT NULL
      );
      INSERT INTO audit_chain_head (id, seq, hash) VALUES (
        1,
        COALESCE((SELECT MAX(seq) FROM audit_log), 0),
        COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), '${'0'.repeat(64)}')
      );
      CREATE INDEX audit_log_grant ON audit_log (grant_id, seq);

      -- Keys every node needs, sealed by the caller (the store keeps bytes it
      -- cannot read). A single node keeps its receipt key in a file instead.
      CREATE TABLE service_keys (
        name        TEXT PRIMARY KEY,
        sealed      BLOB NOT NULL,
        created_at  TEXT NOT NULL
      );
    `,
  },
  {
    version: 8,
    name: 'snapshots of sourced datasets',
    sql: `
      -- A sourced dataset's version: where its rows are read (the snapshot,
      -- JSON the engine writes and reads; the store does not look inside),
      -- the checksum taken at registration, and when a verification found
      -- the source changed (queries on it are then refused). Its upload row
      -- holds no chunk: the rows stay in the owner's database or files.
      CREATE TABLE source_snapshots (
        upload_id   INTEGER PRIMARY KEY REFERENCES uploads (id),
        snapshot    TEXT NOT NULL,
        checksum    TEXT NOT NULL,
        changed_at  TEXT
      );
    `,
  },
  {
    version: 9,
    name: 'the data market: owners, applications, money, certificates',
    sql: `
      -- The owner role: SQLite cannot change a CHECK, so principals and
      -- api_keys are rebuilt with it (api_keys first: it references principals).
      CREATE TABLE principals_new (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('operator', 'analyst', 'custodian', 'owner')),
        created_at  TEXT NOT NULL,
        created_by  TEXT NOT NULL
      );
      INSERT INTO principals_new (id, name, role, created_at, created_by)
        SELECT id, name, role, created_at, created_by FROM principals;
      CREATE TABLE api_keys_new (
        key_id        TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('operator', 'analyst', 'custodian', 'owner')),
        key_hash      BLOB NOT NULL,
        created_at    TEXT NOT NULL,
        created_by    TEXT NOT NULL,
        revoked_at    TEXT,
        principal_id  TEXT REFERENCES principals_new (id)
      );
      INSERT INTO api_keys_new (key_id, name, role, key_hash, created_at, created_by, revoked_at, principal_id)
        SELECT key_id, name, role, key_hash, created_at, created_by, revoked_at, principal_id FROM api_keys;
      DROP TABLE api_keys;
      DROP TABLE principals;
      ALTER TABLE principals_new RENAME TO principals;
      ALTER TABLE api_keys_new RENAME TO api_keys;
      CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

      -- A dataset's owner principal, and its market settings (levels, prices:
      -- JSON the engine writes and reads; the store does not look inside).
      ALTER TABLE datasets ADD COLUMN owner_id TEXT;
      ALTER TABLE datasets ADD COLUMN market TEXT;

      -- Platform settings the engine writes as JSON (the market policy).
      CREATE TABLE settings (
        name        TEXT PRIMARY KEY,
        value       TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        updated_by  TEXT NOT NULL
      );

      -- Applications for a use, and each party's decision on one.
      CREATE TABLE applications (
        id            TEXT PRIMARY KEY,
        analyst_id    TEXT NOT NULL,
        analyst       TEXT NOT NULL,
        organization  TEXT NOT NULL,
        scenario      TEXT NOT NULL,
        purpose       TEXT NOT NULL,
        request       TEXT NOT NULL,
        parties       TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'withdrawn')),
        approved      TEXT,
        grants        TEXT,
        submitted_at  TEXT NOT NULL,
        expires_at    TEXT NOT NULL,
        decided_at    TEXT
      );
      CREATE INDEX applications_analyst ON applications (analyst_id, submitted_at);
      CREATE TABLE application_decisions (
        application_id  TEXT NOT NULL REFERENCES applications (id),
        party           TEXT NOT NULL,
        decision        TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
        reason          TEXT NOT NULL,
        narrow          TEXT,
        decided_by      TEXT NOT NULL,
        decided_at      TEXT NOT NULL,
        PRIMARY KEY (application_id, party)
      );

      -- A grant's scenario, organization, application, and its money ledger
      -- in integer minor units (fen): spent never passes cap.
      ALTER TABLE grants ADD COLUMN application_id TEXT;
      ALTER TABLE grants ADD COLUMN scenario TEXT NOT NULL DEFAULT 'public-welfare';
      ALTER TABLE grants ADD COLUMN organization TEXT;
      ALTER TABLE grants ADD COLUMN money_cap INTEGER CHECK (money_cap >= 0);
      ALTER TABLE grants ADD COLUMN money_spent INTEGER NOT NULL DEFAULT 0 CHECK (money_spent >= 0);

      -- What an answer used of its grant (columns, aggregates: JSON), for scope reviews.
      ALTER TABLE answers ADD COLUMN scope TEXT;

      -- The money ledger: per fresh answer, its price per dataset, the
      -- platform's fee and each owner's share, written in the answer's transaction.
      CREATE TABLE money_lines (
        query_id       TEXT NOT NULL,
        line           INTEGER NOT NULL,
        kind           TEXT NOT NULL CHECK (kind IN ('price', 'fee', 'share')),
        time           TEXT NOT NULL,
        grant_id       TEXT NOT NULL,
        analyst_id     TEXT NOT NULL,
        analyst        TEXT NOT NULL,
        organization   TEXT,
        scenario       TEXT NOT NULL,
        dataset_id     TEXT,
        owner_id       TEXT,
        epsilon_micro  INTEGER NOT NULL,
        amount         INTEGER NOT NULL CHECK (amount >= 0),
        currency       TEXT NOT NULL,
        PRIMARY KEY (query_id, line)
      );
      CREATE INDEX money_lines_time ON money_lines (time);

      -- Registration certificates, signed by the engine (the store keeps the JSON).
      CREATE TABLE certificates (
        dataset_id  TEXT NOT NULL,
        version     INTEGER NOT NULL,
        body        TEXT NOT NULL,
        PRIMARY KEY (dataset_id, version)
      );
    `,
  },
  {
    version: 10,
    name: 'grants over several datasets, and their partition selection bound',
    sql: `
      -- A JSON list of every dataset the grant covers, dataset_id first; NULL: dataset_id alone.
      ALTER TABLE grants ADD COLUMN datasets TEXT;
      -- Partition selection's per-unit key bound for this grant's queries; NULL: the dataset's.
      ALTER TABLE grants ADD COLUMN max_groups_contributed INTEGER;
    `,
  },
  {
    version: 11,
    name: 'the catalog epoch: a counter every change to what nodes cache of the catalog moves',
    sql: `
      -- Moved, by the triggers below, in the same transaction as every change to datasets, their
      -- versions and snapshots, settings, HE keys (and their public material) and uploads' encryption, principals, and grants'
      -- terms (never their spending): a node keeps what it read of these for as long as the
      -- counter it read first has not moved (engine/pipeline/catalog.ts, api/routes/datasets.ts).
      -- A column added to grants later must be added to catalog_grants_update unless it is spent.
      CREATE TABLE catalog_epoch (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        n   INTEGER NOT NULL
      );
      INSERT INTO catalog_epoch (id, n) VALUES (1, 0);
      CREATE TRIGGER catalog_datasets_insert AFTER INSERT ON datasets BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_datasets_update AFTER UPDATE ON datasets BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_datasets_delete AFTER DELETE ON datasets BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_dataset_versions_insert AFTER INSERT ON dataset_versions BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_dataset_versions_update AFTER UPDATE ON dataset_versions BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_dataset_versions_delete AFTER DELETE ON dataset_versions BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_source_snapshots_insert AFTER INSERT ON source_snapshots BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_source_snapshots_update AFTER UPDATE ON source_snapshots BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_source_snapshots_delete AFTER DELETE ON source_snapshots BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_settings_insert AFTER INSERT ON settings BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_settings_update AFTER UPDATE ON settings BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_settings_delete AFTER DELETE ON settings BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_he_keys_insert AFTER INSERT ON he_keys BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_he_keys_update AFTER UPDATE ON he_keys BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_he_keys_delete AFTER DELETE ON he_keys BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_he_public_keys_insert AFTER INSERT ON he_public_keys BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_he_public_keys_update AFTER UPDATE ON he_public_keys BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_he_public_keys_delete AFTER DELETE ON he_public_keys BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_he_uploads_insert AFTER INSERT ON he_uploads BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_he_uploads_update AFTER UPDATE ON he_uploads BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_he_uploads_delete AFTER DELETE ON he_uploads BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_principals_insert AFTER INSERT ON principals BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_principals_update AFTER UPDATE ON principals BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_principals_delete AFTER DELETE ON principals BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_grants_insert AFTER INSERT ON grants BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_grants_delete AFTER DELETE ON grants BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
      CREATE TRIGGER catalog_grants_update AFTER UPDATE OF id, analyst, dataset_id, purpose, columns, aggregates, epsilon_total, delta_total, expires_at, created_at, created_by, revoked_at, analyst_id, application_id, scenario, organization, money_cap, datasets, max_groups_contributed ON grants BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
    `,
  },
  {
    version: 12,
    name: 'budget windows and a cap per answer on grants; whether a dataset lets windows refresh',
    sql: `
      -- Terms (the catalog trigger below watches them): the largest epsilon one answer may spend (micro-units),
      -- and the refresh window: 'month' (calendar months, UTC) or 'd<n>' (n days from the grant's creation),
      -- with its cap in micro-units. Spending: the window the spend counts in (its start) and that spend.
      ALTER TABLE grants ADD COLUMN max_epsilon_per_answer INTEGER;
      ALTER TABLE grants ADD COLUMN window_every TEXT;
      ALTER TABLE grants ADD COLUMN window_epsilon INTEGER;
      ALTER TABLE grants ADD COLUMN window_start TEXT;
      ALTER TABLE grants ADD COLUMN window_spent INTEGER NOT NULL DEFAULT 0 CHECK (window_spent >= 0);
      -- 0: the dataset's grants' windows never refresh (a window cap is then a cap for the grant's life).
      ALTER TABLE dataset_budgets ADD COLUMN window_refresh INTEGER NOT NULL DEFAULT 1;
      DROP TRIGGER catalog_grants_update;
      CREATE TRIGGER catalog_grants_update AFTER UPDATE OF id, analyst, dataset_id, purpose, columns, aggregates, epsilon_total, delta_total, expires_at, created_at, created_by, revoked_at, analyst_id, application_id, scenario, organization, money_cap, datasets, max_groups_contributed, max_epsilon_per_answer, window_every, window_epsilon ON grants BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
    `,
  },
  {
    version: 13,
    name: 'query templates an owner or operator approved, and grants limited to them',
    sql: `
      -- A parameterized query (docs/queries.md, Templates): its SQL with :name parameters, their declared
      -- types and ranges (JSON), and the fixed epsilon (micro-units) and mechanism of every run.
      CREATE TABLE templates (
        id          TEXT PRIMARY KEY,
        dataset_id  TEXT NOT NULL REFERENCES datasets (id),
        name        TEXT NOT NULL,
        sql         TEXT NOT NULL,
        params      TEXT NOT NULL,
        epsilon     INTEGER NOT NULL CHECK (epsilon > 0),
        mechanism   TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        created_by  TEXT NOT NULL
      );
      CREATE INDEX templates_dataset ON templates (dataset_id);
      -- 1: the grant answers templates only; ad-hoc SQL is refused.
      ALTER TABLE grants ADD COLUMN templates_only INTEGER NOT NULL DEFAULT 0;
      DROP TRIGGER catalog_grants_update;
      CREATE TRIGGER catalog_grants_update AFTER UPDATE OF id, analyst, dataset_id, purpose, columns, aggregates, epsilon_total, delta_total, expires_at, created_at, created_by, revoked_at, analyst_id, application_id, scenario, organization, money_cap, datasets, max_groups_contributed, max_epsilon_per_answer, window_every, window_epsilon, templates_only ON grants BEGIN UPDATE catalog_epoch SET n = n + 1 WHERE id = 1; END;
    `,
  },
]

/** A principal's id: 64 random bits, `p_` and 16 hex digits. */
export function newPrincipalId(): string {
  return `p_${randomBytes(8).toString('hex')}`
}
