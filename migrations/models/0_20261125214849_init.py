from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "users" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(100) NOT NULL,
    "email" VARCHAR(254) NOT NULL UNIQUE,
    "password_hash" VARCHAR(255) NOT NULL,
    "role" VARCHAR(16) NOT NULL,
    "token_version" INT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_users_created_eeb5e9" ON "users" ("created_at", "id");
CREATE INDEX IF NOT EXISTS "idx_users_role_c21459" ON "users" ("role", "created_at", "id");
CREATE INDEX IF NOT EXISTS "idx_users_name_dff59b" ON "users" ("name", "id");
COMMENT ON COLUMN "users"."email" IS 'Stored lower-case';
COMMENT ON COLUMN "users"."role" IS 'ADMIN: admin\nMEMBER: member';
COMMENT ON COLUMN "users"."token_version" IS 'Bumped on password change; older tokens stop working';
COMMENT ON TABLE "users" IS 'A person who signs in; owns posts.';
CREATE TABLE IF NOT EXISTS "posts" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "title" VARCHAR(200) NOT NULL,
    "body" TEXT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "author_id" BIGINT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_posts_author__ffbbfb" ON "posts" ("author_id", "created_at", "id");
CREATE INDEX IF NOT EXISTS "idx_posts_created_e07ff4" ON "posts" ("created_at", "id");
CREATE INDEX IF NOT EXISTS "idx_posts_title_7e2b95" ON "posts" ("title", "id");
COMMENT ON TABLE "posts" IS 'A text written by one user.';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    # aerich writes no downgrade for an initial migration; this one returns the database to empty
    # (the aerich bookkeeping table stays: aerich itself removes this migration's row from it).
    return """
        DROP TABLE IF EXISTS "posts";
        DROP TABLE IF EXISTS "users";"""


MODELS_STATE = (
    "eJztWV1zmzgU/SsanrIzacYh/simTzhxWm9ruxPT3U6zO4wMCmYMEgWxjqfr/76SQObbwd"
    "2NJ079Blf3iqtzhO498F3xiIXc8OwTCalyBb4rGHqIXeTsp0CBvp9auYHCmSscfeYhLHAW"
    "0gCafJoH6IaImSwUmoHjU4dg7qoBih4pWAYOpQiD2QoQjEAUouCMT2ARk83gYLuBb4Sdbx"
    "EyKLERnaOARdz/xcwOttAjCvntvQIjOieB4Vg8wAwQpMgyoFgOszH3+xordShbW2Lg0/oL"
    "48FBrpVDKJ5X2A268oWt79hDTG+FL1/RzDCJG3k49fdXLCm8CXCweLKNMAp4JsxGg4hjhy"
    "PXTTCWcMaLTl3i1WZiLPQAI5czwKPjBFKbYhjjiW5MB7phKCV2ZESGhMRkEsyZZamGAgCb"
    "p/DmV1W9uOiprYvuZafd63UuW5fMV+RbHuqt42RStOKpBGbDd8OxzhMibPvEm4ob1iIGUh"
    "hHCVJT9Dcc5Qm4nsOgGv5NQIEBtrQiAxLvbRRIQ8pBuun3QYIHHw0XYZvO2a3aam0B+Hft"
    "7vq9dnfCvH7JwzxOhtR4jCOeIjwj1qoMsM7eymqApf8P4Zts4JcC7xY09cEXsVm9MPzmZk"
    "E8GWlfBL7eKhn5OBm/k+4Z0K8/TvoFrPPnUB7xGzZCHQ9Vo56PLGBvJaFn8uIQdzpboDXB"
    "7irZJduoGY4GU10bfcrxc6PpAz6i5riR1pNu4Z3YTAL+GOrvAb8FXyfjgYCX1To7EE9M/f"
    "SvCs+JVRtiYLI0oJU5kaVVopZjPfKtH2Q9H3lk/aWwLjHK0J5kn7Kea0uatw+5sKe7iEPg"
    "eG+NBO/hHhaVfUQMa5mKWxIgx8Yf0ErQMWSZQ2xWNRBJp/yZtaYHSMJa7jNpTc+uAC43bW"
    "9++7HVszUjGrdc2vRauxkoAuUZNBdLGFhGDm4+QlRSsGx8y0Oe6hUtEENbwMPXwbPO4l6h"
    "XCQf9cqFi4nGysVnvgSD5ZyAkO2LEDj4LSBLdiEEUJWAaRLSRMdUi5SAxO1s9agA4/SoYF"
    "6wgpEUNRUw0v8V6pfzRvrlfIt+OS/rF+RBx90F4E3A/4Pwc2xxZUpZXbKAS5YoeGPCEBXP"
    "nUZysdNuIhc77Xq5yMfycPswDJeEneZzGM53gb0U+Ao3uNrpNEK8swXxThFxWQHKQA9w5J"
    "XalhzoMnZ/WCse8mZxSd5lw2s3o+H4CkDLc/CfeDQY9Qd3VyAz165HTbfJSVOUB5mDpluk"
    "gZIFwsbfrNjzlEt81FbTUtz+mvrWjiT0I89npw5rZuTLCsw5xDZi/YxroQCItYQgpMQHbH"
    "jB+dilFKvn7V778qLb3lTgjWVb4ZVF9vgh5fVK6uOHlJ+R9boPKSUlXy86M62J/EVVkDpJ"
    "2O2HO+RCWn0KF/6DHRj7dep+/ZyKXEOBY86VCk2ejJxuU+Uw9XlKltfD8LSs3kkU/yyK+D"
    "+W4XqtW9sd1cuC+sboKAhqBAF/qXZAOHF/heg+y/cE9kSKcEWH8dt0Mq7pKdOQYmvhmBT8"
    "A1znkMtKFbgcjO2/R4t/QguNAZ+gX/XNfp+fl9f/Asy5Kbg="
)
