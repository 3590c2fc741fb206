-- duroxide-pg 0.1.38's fetch_orchestration_item (migration 0025), with the search for a trip to
-- take changed (see postgres_fetches.rs); what it claims, reads and returns is unchanged.
CREATE OR REPLACE FUNCTION {schema}.fetch_orchestration_item(
    p_now_ms BIGINT,
    p_lock_timeout_ms BIGINT,
    p_min_version_packed BIGINT DEFAULT NULL,
    p_max_version_packed BIGINT DEFAULT NULL
)
RETURNS TABLE(
    out_instance_id TEXT,
    out_orchestration_name TEXT,
    out_orchestration_version TEXT,
    out_execution_id BIGINT,
    out_history JSONB,
    out_messages JSONB,
    out_lock_token TEXT,
    out_attempt_count INTEGER,
    out_kv_snapshot JSONB
) AS $fetch_orch$
DECLARE
    v_instance_id TEXT;
    v_lock_token TEXT;
    v_locked_until BIGINT;
    v_lease_base_ms BIGINT;
    v_orchestration_name TEXT;
    v_orchestration_version TEXT;
    v_current_execution_id BIGINT;
    v_history JSONB;
    v_messages JSONB;
    v_kv_snapshot JSONB;
    v_lock_acquired INTEGER;
    v_max_attempt_count INTEGER;
    -- Trips passed over in this fetch, and of them those another fetch or acknowledgement held.
    v_passed TEXT[] := '{}';
    v_held TEXT[] := '{}';
    v_waited BOOLEAN := FALSE;
    v_got BOOLEAN;
BEGIN
    LOOP
        v_instance_id := NULL;

        -- Phase 1: the trip whose message has been visible longest, not leased and not passed
        -- over. The queue is read in order through its index and each candidate's lease
        -- looked up by key, so the search stops at the first free trip (upstream also joins
        -- every trip's execution here for the version filter, reading the whole store).
        SELECT q.instance_id INTO v_instance_id
        FROM {schema}.orchestrator_queue q
        WHERE q.visible_at <= TO_TIMESTAMP(p_now_ms / 1000.0)
          AND q.instance_id <> ALL (v_passed)
          AND NOT EXISTS (
            SELECT 1 FROM {schema}.instance_locks il
            WHERE il.instance_id = q.instance_id AND il.locked_until > p_now_ms
          )
        ORDER BY q.visible_at, q.id
        LIMIT 1;

        -- Phase 2: the trip's advisory lock, if free at once; a trip held by another fetch or
        -- by its acknowledgement is passed over (upstream waits for it here, so fetches side
        -- by side queue up behind the same trip). Only when every candidate was passed over
        -- does the fetch wait for the first one held, as upstream would, for at most 100 ms and
        -- without ever blocking on a lock (it may hold others): such a hold lasts milliseconds.
        -- (The lock is the trip's id hashed, shared by every schema in the database.)
        IF NOT FOUND THEN
            IF v_waited OR cardinality(v_held) = 0 THEN
                RETURN;
            END IF;
            v_waited := TRUE;
            v_instance_id := v_held[1];
            v_got := FALSE;
            FOR i IN 1..50 LOOP
                PERFORM pg_sleep(0.002);
                v_got := pg_try_advisory_xact_lock(hashtext(v_instance_id));
                EXIT WHEN v_got;
            END LOOP;
            IF NOT v_got THEN
                RETURN;
            END IF;
        ELSIF NOT pg_try_advisory_xact_lock(hashtext(v_instance_id)) THEN
            v_passed := v_passed || v_instance_id;
            v_held := v_held || v_instance_id;
            CONTINUE;
        END IF;

        -- Phase 3: under the lock, the trip is still free, and (with a version filter) its
        -- execution is one this runtime can run: no execution yet, one without a version, or
        -- one whose version is in the range. Otherwise it is passed over.
        PERFORM 1
        FROM {schema}.orchestrator_queue q
        WHERE q.instance_id = v_instance_id
          AND q.visible_at <= TO_TIMESTAMP(p_now_ms / 1000.0)
          AND NOT EXISTS (
            SELECT 1 FROM {schema}.instance_locks il
            WHERE il.instance_id = q.instance_id AND il.locked_until > p_now_ms
          )
        LIMIT 1
        FOR UPDATE OF q SKIP LOCKED;

        IF NOT FOUND OR (p_min_version_packed IS NOT NULL AND EXISTS (
            SELECT 1
            FROM {schema}.instances i
            JOIN {schema}.executions e ON e.instance_id = i.instance_id
                AND e.execution_id = i.current_execution_id
            WHERE i.instance_id = v_instance_id
              AND e.duroxide_version_major IS NOT NULL
              AND NOT COALESCE(
                (e.duroxide_version_major * 1000000 + e.duroxide_version_minor * 1000 + e.duroxide_version_patch)
                    BETWEEN p_min_version_packed AND p_max_version_packed,
                FALSE)
        )) THEN
            v_passed := v_passed || v_instance_id;
            CONTINUE;
        END IF;

        -- From here on, upstream's function unchanged.
        v_lease_base_ms := GREATEST(
            p_now_ms + (EXTRACT(EPOCH FROM (clock_timestamp() - statement_timestamp())) * 1000)::BIGINT,
            (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
        );
        v_lock_token := 'lock_' || gen_random_uuid()::TEXT;
        v_locked_until := v_lease_base_ms + p_lock_timeout_ms;

        INSERT INTO {schema}.instance_locks (instance_id, lock_token, locked_until, locked_at)
        VALUES (v_instance_id, v_lock_token, v_locked_until, p_now_ms)
        ON CONFLICT(instance_id) DO UPDATE
        SET lock_token = EXCLUDED.lock_token,
            locked_until = EXCLUDED.locked_until,
            locked_at = EXCLUDED.locked_at
        WHERE {schema}.instance_locks.locked_until <= p_now_ms;

        GET DIAGNOSTICS v_lock_acquired = ROW_COUNT;

        IF v_lock_acquired = 0 THEN
            v_passed := v_passed || v_instance_id;
            CONTINUE;
        END IF;

        UPDATE {schema}.orchestrator_queue q
        SET lock_token = v_lock_token,
            locked_until = v_locked_until,
            attempt_count = q.attempt_count + 1
        WHERE q.instance_id = v_instance_id
          AND q.visible_at <= TO_TIMESTAMP(p_now_ms / 1000.0)
          AND (q.lock_token IS NULL OR q.locked_until <= p_now_ms);

        SELECT COALESCE(JSONB_AGG(q.work_item::JSONB ORDER BY q.id), '[]'::JSONB),
               COALESCE(MAX(q.attempt_count), 1)
        INTO v_messages, v_max_attempt_count
        FROM {schema}.orchestrator_queue q
        WHERE q.lock_token = v_lock_token;

        SELECT i.orchestration_name, i.orchestration_version, i.current_execution_id
        INTO v_orchestration_name, v_orchestration_version, v_current_execution_id
        FROM {schema}.instances i
        WHERE i.instance_id = v_instance_id;

        IF FOUND THEN
            SELECT COALESCE(JSONB_AGG(h.event_data::JSONB ORDER BY h.event_id), '[]'::JSONB)
            INTO v_history
            FROM {schema}.history h
            WHERE h.instance_id = v_instance_id AND h.execution_id = v_current_execution_id;

            v_orchestration_version := COALESCE(v_orchestration_version, 'unknown');
        ELSE
            SELECT COALESCE(JSONB_AGG(h.event_data::JSONB ORDER BY h.execution_id, h.event_id), '[]'::JSONB)
            INTO v_history
            FROM {schema}.history h
            WHERE h.instance_id = v_instance_id;

            IF JSONB_ARRAY_LENGTH(v_history) > 0 AND v_history->0 ? 'OrchestrationStarted' THEN
                v_orchestration_name := v_history->0->'OrchestrationStarted'->>'name';
                v_orchestration_version := v_history->0->'OrchestrationStarted'->>'version';
                v_current_execution_id := 1;
            ELSIF JSONB_ARRAY_LENGTH(v_messages) > 0 AND v_messages->0 ? 'StartOrchestration' THEN
                v_orchestration_name := v_messages->0->'StartOrchestration'->>'orchestration';
                v_orchestration_version := COALESCE(v_messages->0->'StartOrchestration'->>'version', 'unknown');
                v_current_execution_id := COALESCE((v_messages->0->'StartOrchestration'->>'execution_id')::BIGINT, 1);
            ELSIF JSONB_ARRAY_LENGTH(v_messages) > 0 AND v_messages->0 ? 'ContinueAsNew' THEN
                v_orchestration_name := v_messages->0->'ContinueAsNew'->>'orchestration';
                v_orchestration_version := COALESCE(v_messages->0->'ContinueAsNew'->>'version', 'unknown');
                v_current_execution_id := 1;
            ELSE
                v_orchestration_name := 'Unknown';
                v_orchestration_version := 'unknown';
                v_current_execution_id := 1;
            END IF;
        END IF;

        SELECT COALESCE(
            jsonb_object_agg(
                ks.key,
                jsonb_build_object('value', ks.value, 'last_updated_at_ms', ks.last_updated_at_ms)
            ),
            '{}'::jsonb
        )
        INTO v_kv_snapshot
        FROM {schema}.kv_store ks
        WHERE ks.instance_id = v_instance_id;

        RETURN QUERY SELECT
            v_instance_id,
            v_orchestration_name,
            v_orchestration_version,
            v_current_execution_id,
            v_history,
            v_messages,
            v_lock_token,
            v_max_attempt_count,
            v_kv_snapshot;
        RETURN;
    END LOOP;
END;
$fetch_orch$ LANGUAGE plpgsql
-- Plain index scans only. A queue swings from empty to thousands of rows within seconds, so its
-- statistics mislead the planner whenever they were taken, and a session keeps the plan made on
-- its first calls: made on an empty queue, a sequential read of the whole queue. A plain index
-- scan also marks the entries of rows gone for good as it passes them, so the next skips them;
-- a bitmap scan visits every dead row a busy index holds, each time.
SET enable_seqscan = off
SET enable_bitmapscan = off;

-- An activity's lease that ran out, found by its end.
CREATE INDEX IF NOT EXISTS travel_worker_leases_by_end
    ON {schema}.worker_queue (locked_until) WHERE lock_token IS NOT NULL;

-- Whether a worker may take an activity: upstream's session and tag conditions, shared by the
-- two searches below (a one-expression SQL function, which the planner inlines).
CREATE OR REPLACE FUNCTION {schema}.travel_activity_for_worker(
    p_session_id TEXT,
    p_tag TEXT,
    p_held_session TEXT,
    p_session_worker TEXT,
    p_owner_id TEXT,
    p_tag_filter TEXT[],
    p_tag_mode TEXT
) RETURNS BOOLEAN AS $for_worker$
    SELECT (
        p_session_id IS NULL
        OR (p_owner_id IS NOT NULL AND (p_session_worker = p_owner_id OR p_held_session IS NULL))
    )
    AND (
        CASE p_tag_mode
            WHEN 'default_only' THEN p_tag IS NULL
            WHEN 'tags' THEN p_tag = ANY(p_tag_filter)
            WHEN 'default_and' THEN (p_tag IS NULL OR p_tag = ANY(p_tag_filter))
            WHEN 'any' THEN TRUE
            ELSE FALSE
        END
    )
$for_worker$ LANGUAGE sql IMMUTABLE;

-- duroxide-pg 0.1.38's fetch_work_item (migration 0016), with the search for an activity to take
-- split in two (see postgres_fetches.rs); what it claims and returns is unchanged.
CREATE OR REPLACE FUNCTION {schema}.fetch_work_item(
    p_now_ms BIGINT,
    p_lock_timeout_ms BIGINT,
    p_owner_id TEXT DEFAULT NULL,
    p_session_lock_timeout_ms BIGINT DEFAULT NULL,
    p_tag_filter TEXT[] DEFAULT NULL,
    p_tag_mode TEXT DEFAULT 'default_only'
)
RETURNS TABLE(
    out_work_item TEXT,
    out_lock_token TEXT,
    out_attempt_count INTEGER
) AS $fetch_worker$
DECLARE
    v_id BIGINT;
    v_session_id TEXT;
    v_session_locked_until BIGINT;
BEGIN
    IF p_tag_mode = 'none' THEN
        RETURN;
    END IF;

    -- First an activity whose lease ran out (its process died or lost it), through the
    -- partial index of leases by their end: few or none, found without reading the leases
    -- still running (upstream's one search reads every activity in flight, each call waiting
    -- on the model included, on every fetch).
    SELECT q.id, q.session_id INTO v_id, v_session_id
    FROM {schema}.worker_queue q
    LEFT JOIN {schema}.sessions s ON s.session_id = q.session_id AND s.locked_until > p_now_ms
    WHERE q.lock_token IS NOT NULL
      AND q.locked_until <= p_now_ms
      AND q.visible_at <= TO_TIMESTAMP(p_now_ms / 1000.0)
      AND {schema}.travel_activity_for_worker(q.session_id, q.tag, s.session_id, s.worker_id,
                                              p_owner_id, p_tag_filter, p_tag_mode)
    -- In the index's order (by id, the planner reads every lease still running).
    ORDER BY q.locked_until, q.id
    LIMIT 1
    FOR UPDATE OF q SKIP LOCKED;

    -- Else the oldest free one, in queue order.
    IF NOT FOUND THEN
        SELECT q.id, q.session_id INTO v_id, v_session_id
        FROM {schema}.worker_queue q
        LEFT JOIN {schema}.sessions s ON s.session_id = q.session_id AND s.locked_until > p_now_ms
        WHERE q.lock_token IS NULL
          AND q.visible_at <= TO_TIMESTAMP(p_now_ms / 1000.0)
          AND {schema}.travel_activity_for_worker(q.session_id, q.tag, s.session_id, s.worker_id,
                                                  p_owner_id, p_tag_filter, p_tag_mode)
        ORDER BY q.id
        LIMIT 1
        FOR UPDATE OF q SKIP LOCKED;
    END IF;

    IF NOT FOUND THEN
        RETURN;
    END IF;

    -- From here on, upstream's function unchanged.
    out_lock_token := 'lock_' || gen_random_uuid()::TEXT;

    UPDATE {schema}.worker_queue
    SET lock_token = out_lock_token,
        locked_until = p_now_ms + p_lock_timeout_ms,
        attempt_count = attempt_count + 1
    WHERE id = v_id;

    SELECT work_item, attempt_count
    INTO out_work_item, out_attempt_count
    FROM {schema}.worker_queue
    WHERE id = v_id;

    IF v_session_id IS NOT NULL AND p_owner_id IS NOT NULL THEN
        v_session_locked_until := p_now_ms + COALESCE(p_session_lock_timeout_ms, p_lock_timeout_ms);

        INSERT INTO {schema}.sessions (session_id, worker_id, locked_until, last_activity_at)
        VALUES (v_session_id, p_owner_id, v_session_locked_until, p_now_ms)
        ON CONFLICT (session_id) DO UPDATE
        SET worker_id = p_owner_id,
            locked_until = v_session_locked_until,
            last_activity_at = p_now_ms
        WHERE {schema}.sessions.locked_until <= p_now_ms OR {schema}.sessions.worker_id = p_owner_id;

        IF NOT FOUND THEN
            UPDATE {schema}.worker_queue
            SET lock_token = NULL,
                locked_until = NULL,
                attempt_count = attempt_count - 1
            WHERE id = v_id;
            RETURN;
        END IF;
    END IF;

    RETURN NEXT;
END;
$fetch_worker$ LANGUAGE plpgsql
-- As above (the index of leases by their end gains an entry at every lease and renewal).
SET enable_seqscan = off
SET enable_bitmapscan = off;
