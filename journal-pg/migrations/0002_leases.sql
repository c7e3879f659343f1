-- Leases of runs and triggers to nodes (decision 0013; journal::lease). One row per key (a
-- run's or trigger's stream name) while it is unfinished: held by a node until `expires_at`
-- (ms on the database's clock), or free (holder NULL) with `wake_at` telling when a node
-- should claim it (NULL: only a resume or a cancel wakes it). Every claim raises `epoch`:
-- appends that carry an older epoch are refused (fencing).
CREATE TABLE duro_leases (
    key text COLLATE "C" PRIMARY KEY,
    holder text,
    epoch bigint NOT NULL CHECK (epoch >= 1),
    expires_at bigint NOT NULL DEFAULT 0,
    wake_at bigint
);
-- Dead nodes' leases, found by expiry; waiting runs, found by due time; a node's own, for
-- renewal. Never a scan of every run.
CREATE INDEX duro_leases_expiry ON duro_leases (expires_at) WHERE holder IS NOT NULL;
CREATE INDEX duro_leases_due ON duro_leases (wake_at) WHERE holder IS NULL AND wake_at IS NOT NULL;
CREATE INDEX duro_leases_holder ON duro_leases (holder) WHERE holder IS NOT NULL;

CREATE FUNCTION duro_now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint
$$;

-- duro_append_batch gains a fence per append: p_fence_holders[k] NULL means none; else the
-- append is written only while (holder, epoch) holds the lease of its stream (op 0), or it
-- creates that lease (op 1, refused if one exists; claims never create leases), or it holds it and deletes it with the
-- append (op 2: the run ended). The lease row is locked FOR SHARE until commit, so a claim
-- cannot slip between the check and the append. out_fenced says an append was refused so.
DROP FUNCTION duro_append_batch(text[], bigint[], integer[], integer[], bytea[], bigint, text);
CREATE FUNCTION duro_append_batch(
    p_streams text[],
    p_expected bigint[],
    p_counts integer[],
    p_types integer[],
    p_datas bytea[],
    p_now bigint,
    p_channel text,
    p_fence_holders text[],
    p_fence_epochs bigint[],
    p_fence_ops smallint[],
    p_fence_ttls bigint[]
) RETURNS TABLE (out_index integer, out_ok boolean, out_version bigint,
                 out_first_position bigint, out_fenced boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_head_position bigint;
    v_position bigint;
    v_last_stamp bigint;
    v_stamp bigint;
    v_version bigint;
    v_event integer := 1;
    v_count integer;
    v_held boolean;
    v_appends integer := coalesce(cardinality(p_streams), 0);
BEGIN
    IF v_appends = 0
        OR cardinality(p_expected) <> v_appends
        OR cardinality(p_counts) <> v_appends
        OR cardinality(p_fence_holders) <> v_appends
        OR cardinality(p_fence_epochs) <> v_appends
        OR cardinality(p_fence_ops) <> v_appends
        OR cardinality(p_fence_ttls) <> v_appends
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
        v_held := true;
        -- The version first: a start that lost the race to create a run is a conflict.
        IF p_fence_holders[k] IS NOT NULL
           AND NOT (v_count < 1 OR (p_expected[k] IS NOT NULL AND p_expected[k] <> v_version)) THEN
            IF p_fence_ops[k] = 1 THEN
                -- Only with the append itself: a refused append leaves no lease behind.
                v_held := NOT EXISTS (SELECT 1 FROM duro_leases l WHERE l.key = p_streams[k]);
            ELSE
                PERFORM 1 FROM duro_leases l
                    WHERE l.key = p_streams[k] AND l.holder = p_fence_holders[k]
                      AND l.epoch = p_fence_epochs[k]
                    FOR SHARE;
                v_held := FOUND;
            END IF;
        END IF;
        IF NOT v_held THEN
            RETURN QUERY SELECT k, false, v_version, NULL::bigint, true;
        ELSIF v_count < 1 OR (p_expected[k] IS NOT NULL AND p_expected[k] <> v_version) THEN
            RETURN QUERY SELECT k, false, v_version, NULL::bigint, false;
        ELSE
            INSERT INTO journal_events (position, stream, seq, event_type, recorded_at, data)
                SELECT v_position + i, p_streams[k], v_version + i,
                       p_types[v_event + i - 1], v_stamp, p_datas[v_event + i - 1]
                FROM generate_series(1, v_count) AS i;
            INSERT INTO journal_streams (stream, version)
                VALUES (p_streams[k], v_version + v_count)
                ON CONFLICT (stream) DO UPDATE SET version = excluded.version;
            IF p_fence_holders[k] IS NOT NULL AND p_fence_ops[k] = 1 THEN
                INSERT INTO duro_leases (key, holder, epoch, expires_at)
                    VALUES (p_streams[k], p_fence_holders[k], p_fence_epochs[k],
                            duro_now_ms() + p_fence_ttls[k])
                    ON CONFLICT (key) DO NOTHING;
            ELSIF p_fence_holders[k] IS NOT NULL AND p_fence_ops[k] = 2 THEN
                DELETE FROM duro_leases l WHERE l.key = p_streams[k];
            END IF;
            RETURN QUERY SELECT k, true, v_version, v_position + 1, false;
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

-- Settings every node must share, first come first served: the fingerprint of the data key
-- that seals connection secrets (a node with another key could not read them).
CREATE TABLE duro_settings (
    name text PRIMARY KEY,
    value text NOT NULL
);
