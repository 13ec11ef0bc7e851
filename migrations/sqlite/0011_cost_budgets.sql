-- Query-cost budgets: each client's theoretical arrival time (GCRA), in microseconds

CREATE TABLE cost_budgets (
    key    TEXT PRIMARY KEY,
    tat_us INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX cost_budgets_by_tat ON cost_budgets(tat_us);
