from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "tags" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(50) NOT NULL UNIQUE
);
COMMENT ON COLUMN "tags"."name" IS 'Stored lower-case';
COMMENT ON TABLE "tags" IS 'A lower-case label; a post has up to ten, a tag has any number of posts.';
        CREATE TABLE IF NOT EXISTS "profiles" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "bio" VARCHAR(2000),
    "website" VARCHAR(2048),
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "user_id" BIGINT NOT NULL UNIQUE REFERENCES "users" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "profiles" IS 'What a user says about themself; at most one per user.';
        CREATE TABLE "post_tags" (
    "tag_id" BIGINT NOT NULL REFERENCES "tags" ("id") ON DELETE CASCADE,
    "post_id" BIGINT NOT NULL REFERENCES "posts" ("id") ON DELETE CASCADE
);
        -- Reviewed by hand: aerich omits the unique (post_id, tag_id) index that init-db would create for a
        -- through table (same name as Tortoise generates), and nothing indexes the tag side for GET /posts?tag=.
        CREATE UNIQUE INDEX IF NOT EXISTS "uidx_post_tags_post_id_a55919" ON "post_tags" ("post_id", "tag_id");
        CREATE INDEX IF NOT EXISTS "idx_post_tags_tag_id_post_id" ON "post_tags" ("tag_id", "post_id");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "post_tags";
        DROP TABLE IF EXISTS "tags";
        DROP TABLE IF EXISTS "profiles";"""


MODELS_STATE = (
    "eJztW21z2jgQ/isaf+rNpJ2EQJJrP5GEtlwLdBLu2mnvxiOwMJ7YkmvLpUwv//1WsuV3O3"
    "bejhC+JGG1K6TnEdp9FueX5jCD2P6rT8zn2mv0S6PYIfBHxr6HNOy6iVUYOJ7Z0tEFD2nB"
    "M597eC6mWWDbJ2AyiD/3LJdbjArXPuLkJ0crz+KcUDRbI0YJCnzivRITGGwOM1jUbOAbUO"
    "t7QHTOTMKXxIOIb/+A2aIG+Ul88fKbhgO+ZJ5uGSJg7hHMiaFjuR2wgfu3Ciu3OOwtMohp"
    "3St9YRHbyCAUzivtOl+70nZqmUPK30pfsaOZPmd24NDE313DomgcYFH5ziahxBMrARv3Ao"
    "EdDWw7wljBGW46cQl3m4oxyAIHtmBARIcLSGyaro8nU/1yMNV1rcCOikiREJnmjApmYam+"
    "BMAUS3j5e6dzeHjc2T88Oul1j497J/sn4CvXWxw6vg4Xk6AVTiUxG74bjqdiQQyOT3iohO"
    "FaxmCOwyhJaoJ+zFGWgLMl9srhjwNyDMDW8gwovOsoUIaEg+TQPwYJDv6p24SafAkvO/v7"
    "NQD/1b84e9+/eAFev2VhHkdDnXBMIJ4gPGPGugjwFD6V5QAr/1vhGx3gTYG3Bs3p4Is8rI"
    "7vf7fTIL4Y9b9IfJ11NPJxMn6n3FOgn32cnOawzt5DWcTPYYRbDilHPRuZw96IQl+pP57i"
    "SYcNGhNqr6NTUkfNcDS4nPZHnzL8nPenAzHSyXCjrC+Ocp+JeBL0eTh9j8RL9HUyHkh4Id"
    "eZnnzHxG/6VRNrgmzDdMpWOjZSN7KyKtQyrAeucUvWs5E71jeFdYVRivZo9QnrmbKkefmQ"
    "Cbu5ingKHD9aISFquMVVaR0Rwlqk4i3ziGXSD2Qt6RjCyjGdlxUQUaX8J5SmT5CEa3XOlD"
    "W5uzy8isve7PGD3cOeCQ9Lrv7lWf98oEmUZ3h+tcKeoWfgFiOsw3KW2Lc45HSc8qoPm36R"
    "qxGm6ykTPxtyNcXmbaj6X8vuGqLkrvSccov26BFbZgo1Gsu1BfMk+FdkHSEbkRvTEo2IiG"
    "iILz0WmMvYqugoPQ9g1wsIy0PiYIpNaRNbvd5L1KbHFpbEvihEo6G9Wi0aOjWUo5+XmCMs"
    "NSXy8dpHeMYCjkBPOj6xF28QDDuwTak8XXAqV6q3n+ZmEbsTnxspPmcWayM9I/dtEEYF3d"
    "lQeNYqz4L0XJGZb/FW8j4Vso04d08a4dw9qcFZDO5k53YLkJ3sfI6sN5GdoupoLTpTQfcj"
    "OZ9J8VAQnG20UZazImETSqYMfjywMN1UtZORpakD2kCU3iQ0a8WJEFQlwiTSWdWiRImkJt"
    "+P2WxFvJdz7BMEvBAbxAMS9wBaYh8FLuIMcUL3wAqzSiOIXlioMwNdwRbS1y/7Mu3+Jt6J"
    "lg2+d+pEi/zdoqJW/vfzfdlDEKBdcuYRI3W48ye/SXHdayJhetUCpifly51u/Ft2w5Jezt"
    "3aYepL/k3g9MH6YWqT+YZY3FLM9sNSXa98Qyxpld2pHyYrtNqMIzN3ScpRGb0654i02Djp"
    "uODLKFotGfItk/rIom8QW8EflemkSUiTRzTKn7/wWNjoKx9V99Lu4YxdqtlIDZnJLgeNOm"
    "QHNQ2yg2J/jDjYstsAHAdsezLv9LpNGmW9bnWfTIxl4Xax768YJACoi5dtYC8EbuEB7/R6"
    "jRDv1SDeyyOuMkAR6AFokkJZkwFdxT4e1ppDhE7SWh74/vloOH6NsOFY9G86GoxOBxevUW"
    "qutlfNUZObJt+CSl00R3kaOLsiVP8ByV4sucBHZTYtxD3e8wr7LUk4DRwXbh0oZtSHFc2X"
    "mJoE6hnbAPEr9+IjnzMXwfCV4KNNKu4cdI+7J4dH3TgDx5a6xKuS7K5Zv71t212z/jmyXt"
    "Wsb9FBuLEFcBqFvf1wIeRu+S18R/W/oQ8uXbdqr6SQTB4wKcdStd0bIJpM9bS+da7FtEWr"
    "vE88a77USloX0cheXfMCJz43dS+qd3bPbern0ji4Y7VS3RKoLCKr1VN1/bjTTRW6SXyoWi"
    "AcuW8hug/SdoF35ISWFGJ/XE7GFaV3EpKvwKw5R/8i23rK2bcMXAFGpswq/INM/n9hcvWT"
    "mOD0Ub9SKUlm1/8B1xg5sQ=="
)
