-- Books one broker event (every event carries the order's cumulative fill) under the user's and the order's
-- row locks, in one call.
-- Result: (outcome, owner_id), owner_id being the order's user. outcome is 'unknown' (not a StratForge
-- order: the caller may adopt it as a bracket leg and retry), 'accepted' (a NEW event recorded the broker
-- id), 'changed' or 'unchanged'.
-- Errors: SQLSTATE SF001 (a fill without any price), SF002 (a sell fill whose short part, what it sells beyond
-- the long position, is not a whole number of shares: fractional shares cannot be sold short).
-- Positions are signed (migration 0011): a short has a negative quantity and a negative cost basis (quantity
-- times its positive average entry price). A fill first closes what it opposes (realizing P&L on that part:
-- proceeds less cost for a long, entry value less cover cost for a short) and opens the rest the other way.
-- "The module docstring" in the body is migration 0003's: why the booking commits asynchronously, and why
-- a booking lost in a crash is booked again.
CREATE OR REPLACE FUNCTION sf_apply_event(
    p_type text,
    p_client_order_id text,
    p_broker_order_id text,
    p_broker_status text,
    p_order_qty numeric,
    p_filled_qty numeric,
    p_filled_avg numeric,
    p_filled_fees numeric,
    p_submitted_at timestamptz,
    p_price numeric,
    p_qty numeric,
    p_fee numeric,
    p_execution_id text,
    p_ts timestamptz,
    p_reason text,
    OUT outcome text,
    OUT owner_id uuid
)
LANGUAGE plpgsql AS $$
DECLARE
    v_order_id uuid;
    v_user_id uuid;
    o orders%ROWTYPE;
    pos positions%ROWTYPE;
    v_pos_found boolean;
    v_changed boolean := false;
    v_cash numeric := 0;       -- change of users.virtual_balance
    v_reserved numeric := 0;   -- change of users.reserved_balance
    v_realized_total numeric := 0;
    v_fees_total numeric := 0;
    v_delta numeric;
    v_avg numeric;
    v_booked numeric;
    v_price numeric;
    v_fee numeric;
    v_notional numeric;
    v_before numeric;
    v_sign numeric;            -- +1 for a sell, -1 for a buy: the sign of the cash a fill brings in
    v_close numeric;           -- the part of the fill that closes the position it opposes
    v_open numeric;            -- the rest, which opens or increases a position on the fill's side
    v_close_notional numeric;
    v_removed numeric;
    v_realized numeric;
    v_used numeric;
    v_fill_id uuid;
    v_action text;
    v_target text;
BEGIN
    -- Durability: see the module docstring. A booking lost in a crash is re-derived from the broker.
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_type = 'new' THEN
        -- No money moves on acceptance: record the broker id without taking the user's lock.
        UPDATE orders
           SET broker_order_id = coalesce(broker_order_id, p_broker_order_id),
               status = CASE WHEN status IN ('pending', 'submitted') THEN 'accepted' ELSE status END,
               submitted_at = coalesce(submitted_at, p_submitted_at),
               updated_at = now()
         WHERE client_order_id = p_client_order_id
           AND (broker_order_id IS NULL OR status IN ('pending', 'submitted'))
        RETURNING orders.user_id INTO v_user_id;
        IF FOUND THEN
            outcome := 'accepted';
            owner_id := v_user_id;
            RETURN;
        END IF;
        SELECT orders.user_id INTO v_user_id FROM orders WHERE client_order_id = p_client_order_id;
        IF FOUND THEN
            outcome := 'unchanged';
            owner_id := v_user_id;
            RETURN;
        END IF;
    END IF;

    SELECT id, orders.user_id INTO v_order_id, v_user_id FROM orders WHERE client_order_id = p_client_order_id;
    IF NOT FOUND AND p_broker_order_id IS NOT NULL THEN
        SELECT id, orders.user_id INTO v_order_id, v_user_id FROM orders WHERE broker_order_id = p_broker_order_id;
    END IF;
    IF NOT FOUND THEN
        outcome := 'unknown';
        RETURN;
    END IF;
    owner_id := v_user_id;
    -- Lock order: the user's row, then the order's row (as placement and cancellation do).
    PERFORM 1 FROM users WHERE id = v_user_id FOR UPDATE;
    SELECT * INTO o FROM orders WHERE id = v_order_id FOR UPDATE;

    IF o.broker_order_id IS NULL THEN
        o.broker_order_id := p_broker_order_id;
        v_changed := true;
    END IF;
    -- A bracket leg's size is the broker's: it shrinks to what the entry actually filled.
    IF o.parent_order_id IS NOT NULL AND p_order_qty <> o.quantity AND p_order_qty >= o.filled_quantity THEN
        o.quantity := p_order_qty;
        v_changed := true;
    END IF;

    -- Book the part of the cumulative fill not booked yet (every event carries the cumulative fill).
    v_delta := p_filled_qty - o.filled_quantity;
    IF v_delta > 0 THEN
        IF p_price IS NOT NULL AND p_qty = v_delta THEN
            v_price := sf_money(p_price);
        ELSE
            -- Events were merged or lost: the price that makes the booked total match the broker's average.
            v_avg := coalesce(p_filled_avg, p_price);
            IF v_avg IS NULL THEN
                RAISE EXCEPTION 'Fill event for order % carries no price.', o.id USING ERRCODE = 'SF001';
            END IF;
            SELECT coalesce(sum(quantity * price), 0) INTO v_booked FROM fills WHERE order_id = o.id;
            v_price := sf_money((p_filled_qty * v_avg - v_booked) / v_delta);
            IF v_price <= 0 THEN
                v_price := sf_money(v_avg);
            END IF;
        END IF;
        -- Fees follow the broker's cumulative total when it reports one.
        IF p_filled_fees IS NOT NULL THEN
            v_fee := sf_money(greatest(p_filled_fees - o.fees, 0));
        ELSE
            v_fee := sf_money(p_fee);
        END IF;
        v_notional := sf_money(v_delta * v_price);

        SELECT * INTO pos FROM positions WHERE user_id = v_user_id AND symbol = o.symbol FOR UPDATE;
        v_pos_found := FOUND;
        IF NOT v_pos_found THEN
            pos.id := gen_random_uuid();
            pos.quantity := 0;
            pos.cost_basis := 0;
            pos.realized_pnl := 0;
        END IF;
        v_before := pos.quantity;
        v_sign := CASE WHEN o.side = 'sell' THEN 1 ELSE -1 END;
        -- A sell closes a long (v_before > 0), a buy covers a short (v_before < 0).
        v_close := least(v_delta, greatest(v_sign * v_before, 0));
        v_open := v_delta - v_close;
        IF o.side = 'sell' AND v_open <> trunc(v_open) THEN
            RAISE EXCEPTION 'Sell fill of % % would sell % short: fractional shares cannot be sold short (order %).',
                v_delta::float8, o.symbol, v_open::float8, o.id USING ERRCODE = 'SF002';  -- float8: 3.5, not 3.500000000
        END IF;
        -- The closed part takes its share of the exact cost basis (all of it when it closes the position) and
        -- its share of the notional (all of it unless the fill also opens), so both totals stay exact.
        v_removed := CASE WHEN v_close = 0 THEN 0
                          WHEN v_close = abs(v_before) THEN pos.cost_basis
                          ELSE sf_money(pos.cost_basis * v_close / abs(v_before)) END;
        v_close_notional := CASE WHEN v_open = 0 THEN v_notional ELSE sf_money(v_close * v_price) END;
        v_realized := CASE WHEN v_close = 0 THEN 0 ELSE v_sign * v_close_notional - v_removed END;

        INSERT INTO fills (id, user_id, order_id, session_id, signal_id, execution_id, broker_order_id, broker,
                           symbol, side, quantity, price, fees, realized_pnl, executed_at, source)
        VALUES (gen_random_uuid(), v_user_id, o.id, o.session_id, o.signal_id, p_execution_id, p_broker_order_id,
                o.broker, o.symbol, o.side, v_delta, v_price, v_fee, v_realized, p_ts, 'ledger')
        ON CONFLICT DO NOTHING
        RETURNING id INTO v_fill_id;

        IF v_fill_id IS NOT NULL THEN
            IF o.side = 'buy' THEN
                -- A buy holds its worst-case cost: the fill pays from the reservation first.
                v_used := least(o.reserved_amount, v_notional + v_fee);
                v_cash := v_cash - (v_notional + v_fee - v_used);
            ELSE
                -- A short sale holds its initial margin until it fills: released in proportion to the fill.
                v_used := CASE WHEN p_filled_qty >= o.quantity THEN o.reserved_amount
                               ELSE least(o.reserved_amount,
                                          sf_money(o.reserved_amount * v_delta / (o.quantity - o.filled_quantity)))
                          END;
                v_cash := v_cash + v_notional - v_fee + v_used;
            END IF;
            o.reserved_amount := o.reserved_amount - v_used;
            v_reserved := v_reserved - v_used;
            v_realized_total := v_realized;
            pos.realized_pnl := pos.realized_pnl + v_realized;
            pos.quantity := v_before - v_sign * v_delta;
            pos.cost_basis := pos.cost_basis - v_removed - v_sign * (v_notional - v_close_notional);
            v_action := CASE WHEN v_before = 0 THEN 'OPEN'
                             WHEN pos.quantity = 0 THEN 'CLOSE'
                             WHEN sign(pos.quantity) <> sign(v_before) THEN 'REVERSE'
                             WHEN abs(pos.quantity) > abs(v_before) THEN 'INCREASE'
                             ELSE 'DECREASE' END;
            IF v_action IN ('OPEN', 'REVERSE') THEN
                pos.opened_at := p_ts;
                pos.closed_at := NULL;
            ELSIF v_action = 'CLOSE' THEN
                pos.closed_at := p_ts;
            END IF;
            v_fees_total := v_fee;
            o.fees := o.fees + v_fee;
            pos.status := CASE WHEN pos.quantity <> 0 THEN 'OPEN' ELSE 'CLOSED' END;
            pos.average_entry_price := CASE WHEN pos.quantity <> 0 THEN sf_money(pos.cost_basis / pos.quantity)
                                            ELSE 0 END;
            o.filled_avg_price := sf_money(
                (o.filled_quantity * coalesce(o.filled_avg_price, 0) + v_delta * v_price) / p_filled_qty);
            o.filled_quantity := p_filled_qty;
            o.filled_at := p_ts;

            IF v_pos_found THEN
                UPDATE positions
                   SET quantity = pos.quantity, cost_basis = pos.cost_basis, realized_pnl = pos.realized_pnl,
                       average_entry_price = pos.average_entry_price, status = pos.status,
                       opened_at = pos.opened_at, closed_at = pos.closed_at, updated_at = now()
                 WHERE id = pos.id;
            ELSE
                INSERT INTO positions (id, user_id, session_id, symbol, quantity, cost_basis, realized_pnl,
                                       average_entry_price, status, opened_at, closed_at)
                VALUES (pos.id, v_user_id, o.session_id, o.symbol, pos.quantity, pos.cost_basis, pos.realized_pnl,
                        pos.average_entry_price, pos.status, pos.opened_at, pos.closed_at);
            END IF;
            INSERT INTO position_history (id, position_id, fill_id, action, quantity, price, quantity_after,
                                          average_price_after, pnl, timestamp)
            VALUES (gen_random_uuid(), pos.id, v_fill_id, v_action, v_delta, v_price, pos.quantity,
                    pos.average_entry_price, v_realized, p_ts);
            v_changed := true;
        END IF;
    END IF;

    -- Advance the status (never backwards); a terminal status releases what is still reserved.
    IF o.status NOT IN ('filled', 'canceled', 'rejected', 'expired') THEN
        IF o.filled_quantity >= o.quantity OR p_broker_status = 'filled' THEN
            v_target := 'filled';
        ELSIF p_type IN ('canceled', 'rejected', 'expired') THEN
            v_target := p_type;
        ELSIF o.filled_quantity > 0 THEN
            v_target := 'partially_filled';
        ELSE
            v_target := 'accepted';
        END IF;
        IF v_target IN ('filled', 'canceled', 'rejected', 'expired')
           OR (CASE v_target WHEN 'accepted' THEN 2 ELSE 3 END)
              > (CASE o.status WHEN 'pending' THEN 0 WHEN 'submitted' THEN 1 WHEN 'accepted' THEN 2 ELSE 3 END) THEN
            o.status := v_target;
            IF v_target IN ('filled', 'canceled', 'rejected', 'expired') THEN
                v_cash := v_cash + o.reserved_amount;
                v_reserved := v_reserved - o.reserved_amount;
                o.reserved_amount := 0;
                IF v_target = 'canceled' THEN
                    o.canceled_at := p_ts;
                ELSIF v_target = 'rejected' THEN
                    o.error_message := coalesce(nullif(p_reason, ''), 'Rejected by the broker.');
                END IF;
            END IF;
            v_changed := true;
        END IF;
    END IF;

    IF NOT v_changed THEN
        outcome := 'unchanged';
        RETURN;
    END IF;
    UPDATE orders
       SET broker_order_id = o.broker_order_id, quantity = o.quantity, status = o.status,
           reserved_amount = o.reserved_amount, filled_quantity = o.filled_quantity,
           filled_avg_price = o.filled_avg_price, filled_at = o.filled_at, fees = o.fees,
           canceled_at = o.canceled_at, error_message = o.error_message, updated_at = now()
     WHERE id = o.id;
    IF v_cash <> 0 OR v_reserved <> 0 OR v_realized_total <> 0 OR v_fees_total <> 0 OR v_fill_id IS NOT NULL THEN
        UPDATE users
           SET virtual_balance = virtual_balance + v_cash,
               reserved_balance = reserved_balance + v_reserved,
               realized_pnl = realized_pnl + v_realized_total,
               fees_paid = fees_paid + v_fees_total,
               realized_day_pnl = CASE
                   WHEN v_fill_id IS NULL OR realized_day > (p_ts AT TIME ZONE 'UTC')::date THEN realized_day_pnl
                   WHEN realized_day = (p_ts AT TIME ZONE 'UTC')::date
                       THEN realized_day_pnl + v_realized_total - v_fees_total
                   ELSE v_realized_total - v_fees_total END,
               realized_day = CASE
                   WHEN v_fill_id IS NULL OR realized_day > (p_ts AT TIME ZONE 'UTC')::date THEN realized_day
                   ELSE (p_ts AT TIME ZONE 'UTC')::date END,
               updated_at = now()
         WHERE id = v_user_id;
    END IF;
    outcome := 'changed';
END;
$$
