-- Version 2: the change feed (records.h ChangeRecord). Each committed Txn that changed rows takes
-- the next seq by updating change_head (the row lock orders commits: seqs are in commit order,
-- without gaps) and lists its changed rows; replicas read it to refresh just what another one
-- changed.
CREATE TABLE changes (
  seq  BIGINT NOT NULL CHECK (seq >= 1),
  kind TEXT   NOT NULL,
  key  TEXT   NOT NULL,
  PRIMARY KEY (seq, kind, key)
);
CREATE TABLE change_head (
  id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
  seq BIGINT  NOT NULL
);
INSERT INTO change_head (id, seq) VALUES (1, 0);
