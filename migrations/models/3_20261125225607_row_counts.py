from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "row_counts" (
    "name" VARCHAR(64) NOT NULL PRIMARY KEY,
    "n" BIGINT NOT NULL
);
COMMENT ON TABLE "row_counts" IS 'Exact row counts kept by triggers (migration 3), so unfiltered list totals cost one row read.';
        -- Written by hand (aerich generated only the table): the counts of the rows already there, and the
        -- triggers that keep them exact. Statement-level triggers with transition tables: one upsert per
        -- statement whatever the number of rows; counter rows are locked in name order.
        INSERT INTO row_counts (name, n)
        SELECT 'users', count(*) FROM users
        UNION ALL SELECT 'users:admin', count(*) FROM users WHERE role = 'admin'
        UNION ALL SELECT 'users:member', count(*) FROM users WHERE role = 'member'
        UNION ALL SELECT 'posts', count(*) FROM posts;

        CREATE FUNCTION row_counts_add(deltas jsonb) RETURNS void LANGUAGE sql AS $$
            INSERT INTO row_counts AS r (name, n)
            SELECT key, sum(value::bigint) FROM jsonb_each_text(deltas) GROUP BY key HAVING sum(value::bigint) <> 0
            ORDER BY key
            ON CONFLICT (name) DO UPDATE SET n = r.n + EXCLUDED.n
        $$;

        CREATE FUNCTION row_counts_users() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                PERFORM row_counts_add((SELECT jsonb_object_agg(name, k) FROM (
                    SELECT 'users' AS name, count(*) AS k FROM new_rows
                    UNION ALL SELECT 'users:' || role, count(*) FROM new_rows GROUP BY role) d));
            ELSIF TG_OP = 'DELETE' THEN
                PERFORM row_counts_add((SELECT jsonb_object_agg(name, -k) FROM (
                    SELECT 'users' AS name, count(*) AS k FROM old_rows
                    UNION ALL SELECT 'users:' || role, count(*) FROM old_rows GROUP BY role) d));
            ELSIF TG_OP = 'UPDATE' THEN
                PERFORM row_counts_add((SELECT jsonb_object_agg(name, k) FROM (
                    SELECT name, sum(k) AS k FROM (
                        SELECT 'users:' || n.role AS name, 1 AS k FROM new_rows n JOIN old_rows o USING (id)
                        WHERE n.role <> o.role
                        UNION ALL SELECT 'users:' || o.role, -1 FROM new_rows n JOIN old_rows o USING (id)
                        WHERE n.role <> o.role) c GROUP BY name) d));
            ELSE  -- TRUNCATE
                UPDATE row_counts SET n = 0 WHERE name = 'users' OR name LIKE 'users:%';
            END IF;
            RETURN NULL;
        END $$;

        CREATE FUNCTION row_counts_posts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                PERFORM row_counts_add(jsonb_build_object('posts', (SELECT count(*) FROM new_rows)));
            ELSIF TG_OP = 'DELETE' THEN
                PERFORM row_counts_add(jsonb_build_object('posts', -(SELECT count(*) FROM old_rows)));
            ELSE  -- TRUNCATE
                UPDATE row_counts SET n = 0 WHERE name = 'posts';
            END IF;
            RETURN NULL;
        END $$;

        CREATE TRIGGER row_counts_users_insert AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION row_counts_users();
        CREATE TRIGGER row_counts_users_delete AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION row_counts_users();
        CREATE TRIGGER row_counts_users_update AFTER UPDATE ON users
            REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION row_counts_users();
        CREATE TRIGGER row_counts_users_truncate AFTER TRUNCATE ON users
            FOR EACH STATEMENT EXECUTE FUNCTION row_counts_users();
        CREATE TRIGGER row_counts_posts_insert AFTER INSERT ON posts REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION row_counts_posts();
        CREATE TRIGGER row_counts_posts_delete AFTER DELETE ON posts REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION row_counts_posts();
        CREATE TRIGGER row_counts_posts_truncate AFTER TRUNCATE ON posts
            FOR EACH STATEMENT EXECUTE FUNCTION row_counts_posts();"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TRIGGER IF EXISTS row_counts_users_insert ON users;
        DROP TRIGGER IF EXISTS row_counts_users_delete ON users;
        DROP TRIGGER IF EXISTS row_counts_users_update ON users;
        DROP TRIGGER IF EXISTS row_counts_users_truncate ON users;
        DROP TRIGGER IF EXISTS row_counts_posts_insert ON posts;
        DROP TRIGGER IF EXISTS row_counts_posts_delete ON posts;
        DROP TRIGGER IF EXISTS row_counts_posts_truncate ON posts;
        DROP FUNCTION IF EXISTS row_counts_users();
        DROP FUNCTION IF EXISTS row_counts_posts();
        DROP FUNCTION IF EXISTS row_counts_add(jsonb);
        DROP TABLE IF EXISTS "row_counts";"""


MODELS_STATE = (
    "eJztW21T2zgQ/iuafIHOUAZCAhy9uZlAQ49rgQ7krp22N45iK44HR3JluSHTy3+/lWzH78"
    "YmQEPIF0hWK1l+VtrdZ6X8bIyZQWx3+wMzLdobcSaETRpH6GeD4rH8kK+whRrYcaJmKRB4"
    "oLo2bKmqiUBXteGBKzjWBTQPse0SEBnE1bnlCItR2ekUWzYxkGuZ9LVFXeQQjrCuM48KxD"
    "jSbYvAJ2wYnLgusigSI4J0j3MpnljUYJMj5I4wh0EGU0R+ED5FnDi2peNtOQWD6TAHi5pP"
    "8jSPWt89oglmEujK4Zlf/wUx9CS3AEnw1bnRhhaxjQTgN2QqR1ANmpg6SngCzzpVqvJVBp"
    "rObG9MY+rOVIwYnevDq0qpSSjhWBAjBjz1bDswVSjyZwsCwT0yn6YRCQwyxJ4tzSd7+1OI"
    "ZA1Nu7jsadfdnqY1sqbdIGOA++j3AM4/NiTEG5YTk6QNFDxFZ1SuG4sKV0E0xreaTagpRv"
    "B1r7kz82cSQeWryYf+07k6+bNztQlar+ToDJafvzwvgqam3zZTg2CB/WGUbSJjDGHmHvcX"
    "cdIiZ1TkGyTeJWUVeJH7WCUURGaJNtH97RL2uBt2U07idXO3ddA63NtvHYKKmuhcclBiiL"
    "OLnsI4wtTfP5orMAcMNCyy4L4FdIQ1JvkI5w6QgtoIRtgOPzxD4EtQ7Z2dd697nfOPcvix"
    "6363FWydXle2NJV0mpJu7qd2wnwQ9Oms9yeSX9GXy4uugpO5wuTqiZFe70tDzgl7gmkULA"
    "D7N4ZJKA5FM+nihjexfSUFA6zfTDA3tEwLa7Ii3WzTuDlOSzDFpjKSRFPOMwhdH+FV8kKa"
    "kpdGMglCxfjVQYLcQmzglhCEyqDAKEGeS3g2+tyhe3fs+CqxHjGuWWpz6JzgaCOADNS/Fk"
    "iFFcRvKSiMQf64yT15bJmFPs/Xv9vbBeHkqUNQXVf3W7O5t3fQ3NnbP2y3Dg7ahztzn5dt"
    "KnN+x2fvpP9L7LrQIRYHnbmNquYA8w4PkwX86niTCPPNnSphHrQKw7xqS4agATNykqwe7M"
    "p8gEP9e+EbLOBlgbcsqnQ/9xIBJQRx87zz+VUiqHy4vHgXqsdAP/lweZzCOumH6sT5ZM8V"
    "DPANeEHjktrTYJU8k4AfLOhMvI9b3XOMe1o92XNt9WWxek6aF8w+snoiLamePiS6rRJneo"
    "JEIpNkp62RNcUp48Qy6XsyVeY4g5ljquclEEGm/Dekps/QCLNwnYXSyHdxPJmnvcnlB28P"
    "70yEn3J1rk86b7uN2aMxl1jWh82cMsM5ptMek38r2qqHzWWp/DyEodRbaSnmFrwjJ7aKFG"
    "HrnK4NGVfgy9qYj2xg3LlZghbZI2iS9UrPHM2loTly1wPItQzCs3IWytnQyq+thk1bpVzU"
    "V6pIRz+NsEBYcUrk4qmL8IB5QpYxxy6xh28QNI/hNRXzlNXPfKZ6/2EWKICuyeevJJ8Di9"
    "WhnoH6KhCjDO+sSDxLmWeGek7IwLVELXof67KKOLcOK+HcOizBWTauaedqE5A17XyJVq9C"
    "O2XWUZt0xjo9DOV8IcnDQqc6SZtlDXZJSY/Bn0cmpsvKdhK0NLZAK5DShY7IrtjkRF5+aO"
    "Swk3lbKT3hsGHV/YmKBKV7C80IeiG/F7ohjpBHYYCdaRLuos2xZYJNQR/tvdpCLkMeBQYk"
    "iLx0YVtAOgQTMDgMEBAQOZp0clke86hP+0a/0X5fotbvI8tF/b60nNvvb4Ufj7AxtmhcMC"
    "bjAeGgzzjIFHHt97fRp+BIkIGbVtMbESQz9QF2yYY7n+2iDEv9r5GAhvrLe8nknsnnfqtC"
    "6rnfKkw8ZVM5naL1ghJdV0CfNiA9nA+VRakc9xnUqoo9Z1hoqnLHwGYTwl/r4A0Q2J3Ybx"
    "BG0nmgEXaR54CPQuA+tkAKoyohplOYqHQ2iA2Vrpt3IeHhBl4XfpZ4q5R6qpULCo1rwVT4"
    "ni/u9MqvEiPaVcpA7eIiUFuVgJ7OSUUWjerhix0phBellsGmj3amEL5k+lBhfiyTPFOInR"
    "ykDxWi44aFzhQUyy2NOIr95ISckBUVxxyVhFYNOg7oQlo8GTF1YVreh36D2ERemy4KJ1W6"
    "VLnmln+HjTP/sCS/NfRL6wtu61CzlIlxIrrsVjpl2C05ZNjNnjGoC/d1AJ53WPVg3mxXYX"
    "ygVXzW0G6l4Xaw604YBADIi0d1YM90XMEF3my3KyHeLkG8nUY8jABZoLvASTJpTQL0sO/T"
    "Yd3wqz2Nmgu+8/b87OIIqdrRN3rePT/uXh2h2Fh1Xc1+FU+TLuPHHM1+2gyC3RCq/YBgL6"
    "ecsUdhNM30e7qKx05NIxx7Ywe8DiQz4WZF+ghTk0A+YxtAftW7uMgVzEHQfCPtUScUP9jP"
    "atYHnsVQP8+jr/WB50u0etGBZ40Kwp0lgOOg2+n7K0l3873wgux/SS9/zmqVV2JIRpf08r"
    "EMjy4rIBoN9bxu7pRiWqNU3iHc0keNnNJF0LJVVrzAkc5d1YviN3vgMvVLKRwsmK0UlwQK"
    "k8hi9lScP655UwFvkpuqBsKB+gqi+yhlF3iiIDQnEfvr+vKiIPWOuqQzMEsX6D919eAZol"
    "0CrgQjkWZlfmSY/j1hKn+SAxz/6nPf2f/Auir1"
)
