-- Rounds half to even at six places, as core.domain.money.money does, so that amounts booked in the database
-- and amounts computed in Python agree to the unit.
-- Not STRICT: PostgreSQL inlines it into the calling expression instead of planning it per call, and
-- NULL still gives NULL (every branch of the CASE is NULL for a NULL argument).
CREATE OR REPLACE FUNCTION sf_money(x numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN abs(x * 1000000 - trunc(x * 1000000)) = 0.5 AND mod(trunc(x * 1000000), 2) = 0 THEN trunc(x, 6)
        ELSE round(x, 6)
    END
$$
