-- Duro's journal in PostgreSQL (docs/postgres.md). Applied by `PgStore::connect` through
-- sqlx's migrator, in the schema the store's connections have first on their search_path.

-- The append lock and the log's head: one row, locked FOR UPDATE by every append and import,
-- so positions are handed out in commit order (decision 0009) and stamps never go backwards.
CREATE TABLE journal_head (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_position bigint NOT NULL CHECK (last_position >= 0),
    last_stamp bigint NOT NULL
);
INSERT INTO journal_head (id, last_position, last_stamp) VALUES (true, 0, 0);

-- The global log. Stream names are ASCII; the "C" collation makes name order byte order (as
-- the embedded store's) and lets `LIKE 'prefix%'` use the index.
CREATE TABLE journal_events (
    position bigint PRIMARY KEY CHECK (position >= 1),
    stream text COLLATE "C" NOT NULL,
    seq bigint NOT NULL CHECK (seq >= 1),
    -- A u16 tag: smallint is signed, so it would not hold tags above 32767.
    event_type integer NOT NULL CHECK (event_type BETWEEN 0 AND 65535),
    recorded_at bigint NOT NULL,
    data bytea NOT NULL,
    CONSTRAINT journal_events_stream_seq UNIQUE (stream, seq)
);

-- Each stream's version, so `stream_version` and `list_streams` never scan events.
CREATE TABLE journal_streams (
    stream text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL CHECK (version >= 1)
);

-- A batch of appends in one statement, so the head lock is held for one round trip plus one
-- commit (one WAL flush) for all of them, instead of one round trip per statement and one
-- flush per append. Append k targets p_streams[k] with p_counts[k] events, taken in order
-- from p_types/p_datas; p_expected[k] NULL means any version. Each append is checked against
-- its stream's version as left by the appends before it (in the database and in the batch):
-- a mismatch skips that append only. Returns one row per append, in order: whether it was
-- written, the stream's version before it, and its first position.
CREATE FUNCTION duro_append_batch(
    p_streams text[],
    p_expected bigint[],
    p_counts integer[],
    p_types integer[],
    p_datas bytea[],
    p_now bigint,
    p_channel text
) RETURNS TABLE (out_index integer, out_ok boolean, out_version bigint, out_first_position bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_head_position bigint;
    v_position bigint;
    v_last_stamp bigint;
    v_stamp bigint;
    v_version bigint;
    v_event integer := 1;
    v_count integer;
    v_appends integer := coalesce(cardinality(p_streams), 0);
BEGIN
    IF v_appends = 0
        OR cardinality(p_expected) <> v_appends
        OR cardinality(p_counts) <> v_appends
        OR cardinality(p_types) <> cardinality(p_datas)
        OR (SELECT sum(c) FROM unnest(p_counts) AS c) <> cardinality(p_types) THEN
        RAISE EXCEPTION 'duro_append_batch: mismatched arrays';
    END IF;
    -- The append lock (decision 0009). Statements below run after it is granted, each with a
    -- fresh snapshot (READ COMMITTED, volatile function), so they see every append committed
    -- before, and, within this transaction, the batch's own earlier appends.
    SELECT h.last_position, h.last_stamp INTO v_head_position, v_last_stamp
        FROM journal_head h WHERE h.id FOR UPDATE;
    v_position := v_head_position;
    v_stamp := greatest(p_now, v_last_stamp);
    FOR k IN 1 .. v_appends LOOP
        v_count := p_counts[k];
        SELECT s.version INTO v_version FROM journal_streams s WHERE s.stream = p_streams[k];
        v_version := coalesce(v_version, 0);
        IF v_count < 1 OR (p_expected[k] IS NOT NULL AND p_expected[k] <> v_version) THEN
            RETURN QUERY SELECT k, false, v_version, NULL::bigint;
        ELSE
            INSERT INTO journal_events (position, stream, seq, event_type, recorded_at, data)
                SELECT v_position + i, p_streams[k], v_version + i,
                       p_types[v_event + i - 1], v_stamp, p_datas[v_event + i - 1]
                FROM generate_series(1, v_count) AS i;
            INSERT INTO journal_streams (stream, version)
                VALUES (p_streams[k], v_version + v_count)
                ON CONFLICT (stream) DO UPDATE SET version = excluded.version;
            RETURN QUERY SELECT k, true, v_version, v_position + 1;
            v_position := v_position + v_count;
        END IF;
        v_event := v_event + v_count;
    END LOOP;
    IF v_position > v_head_position THEN
        UPDATE journal_head SET last_position = v_position, last_stamp = v_stamp WHERE id;
        -- Delivered at commit only, in commit order: other nodes' subscribers wake up.
        PERFORM pg_notify(p_channel, v_position::text);
    END IF;
END;
$$;
