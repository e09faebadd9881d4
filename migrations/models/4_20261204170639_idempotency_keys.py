from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "idempotency_keys" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "owner" VARCHAR(32) NOT NULL,
    "key" VARCHAR(255) NOT NULL,
    "fingerprint" VARCHAR(64) NOT NULL,
    "status_code" INT,
    "body" TEXT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "uid_idempotency_owner_002e80" UNIQUE ("owner", "key")
);
CREATE INDEX IF NOT EXISTS "idx_idempotency_expires_ae52bb" ON "idempotency_keys" ("expires_at");
COMMENT ON COLUMN "idempotency_keys"."owner" IS '''user:<id>'' for a caller with a token, ''anonymous'' otherwise';
COMMENT ON COLUMN "idempotency_keys"."fingerprint" IS 'HMAC of method, path and body (no password stored)';
COMMENT ON COLUMN "idempotency_keys"."status_code" IS 'Null while the first request is running';
COMMENT ON TABLE "idempotency_keys" IS 'A POST''s ``Idempotency-Key`` and the answer it got: a retry within the key''s lifetime gets that answer again.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "idempotency_keys";"""


MODELS_STATE = (
    "eJztXG1v2zgS/iuEviQF0iJ1Xi9dHOCk7jbbJikS33Wx7UKmJVomIpFaklrH2Mt/vyEtWe"
    "+K7LzUSf0ltoczFDUPxZlnSOUfK+Au8eWbU5cEIVeEOdNPZGodoX8shgMCX2o0tpCFwzBt"
    "1wKFh74xoamufU2mphEPpRLYUdA+wr4kIHKJdAQNFeVMW3XRl4ur/oZEg0HmYq/haoMBws"
    "xFakzgU06IQFQhj6sjhJEgSkzRhKoxZUYDLgh9+HREFA0I8oiSIMcqMcUepuyNHpLLHRgT"
    "Zd4PuXrE6F8RsRUHnTERMIZv3yw+YfAVWqEf688/4QtlLrkhUjfrn+G1PaLEd3MQUVebGL"
    "mtpqGRHVPvlKkPRlff69B2uB8FLNUPp2rM2dyAMqWlHoERYEX0FZSINE4s8v0Y2gS62eBT"
    "ldkoMzYuGeHI12hr69kAUpll2+cXffuq17dtqzQTEosMPLHI4UzPIhiqNA7w9BBe/6vT2d"
    "k56Gzv7B/u7R4c7B1uH4KuGW+56eB2NpjUW7OujM9Ofz097+sBcZiqs7msBbfGBis8szJg"
    "pN6fY5YH4GSMRbX75wYFBODWiggk/m6CIBGkGKQP2PIgWBuRJOLoF+r+ewONOMxc5GDfhy"
    "msZzv8UvyasC20gRln04BHcgNxPZEnVJLi01UDX4BvbJ8wT43h506nAZn/di9PPnYvN3c6"
    "r/LwnMctHdOkgUqBuZ6tU21hidVXGZT2T0bOtZ29vRa+Ba1a55q2vHdHcH0iQhGvG229XD"
    "BbZW9bH8+6J4iPUAArNHe3UIj1zIdYMOTuFG0yDhIpJ1y4SCouiPtqmYm/v9sCnP3dWmx0"
    "Ux4aqbCKJDjdJWVoaqNCweru8FCBTLz6PzYw52CCJmPqExN0R1RIBbEYrgmfVCIRMaYBWC"
    "SKdN7uHuwe7uzvzoPHXNIUM5L4kHpfT46y2/vkpsbvif5Sj8LTOLz1utPgqH7vdxNaAyn/"
    "8rMzePOs+7uZ3ME0bvl8cf5rop6Z8SefL44LvnYE0b6xccUa9B5adBJW7fW8ZcH3bmz6Jv"
    "myOovSg0Bxeta76nfPvuTweN/t93RLJ4dFIt3cLyxA807Q19P+R6R/oj8uznvGnVwqT5gr"
    "pnr9Pyw9JhwpbjM+sbGb9UkiTkQ5mMlNSKG7JWDOWz4NzE+ZAj93lDWnGV1n8motGGLneo"
    "KFa5daeIfX6Zabgk5QlGCGPYOR9qYeZ8xuP3OPsv5YcKXMfZfob15hq4n9+lrVVrFuS/L7"
    "AUMwgzSCeuw1ZRKFmis6Do+YQpB8Oz4l8A2cCf6WKCabTiSEFk9g7vHJEZKQdUEnwykifx"
    "PgpYKEPnVwmew++tUqyG1bMvsjs/bHYLPWBgnA3Ue/xO4EOgUu3qBhRrIcX9puRZi2GxjT"
    "9qs7uO0IRh6J2SRumUZmTZbKIVctkD50fjh7fmxIt8VyqUtlB+sMZh3bqmPbF7iVqpBm5I"
    "2RTDuhdfFWAcFBE0GVIkwHBc4I0iWkqlJro+7dseOb9vWYC3tWyMyn8iAD9W81UkXj+K0F"
    "64LqShZU5xi1zQHmBqtcTVq2drfdJsyDVn3tbnu7WCBalyjWJYoVgMKCG3QvmD+NZ8kzCf"
    "jxhG6sWEShuyTqecs16quCekWaF48+RT2XlrRPH3JmL4kzPUEiUUqyi2iUofjABaEe+0Sm"
    "Bo5TGDlmTlUCEWfK/5HkOSYSt8k8S6Tp2iXwZJ725qcf3D3cM1GzlKt7ddJ937NuH425ZL"
    "I+7FWUGc4wm/a5/tsSqz72VqXy8xBAmbuyC8wtvkdBfBMpktY5XRtxYZx/bY7yaM/G4M5h"
    "iVu0Rdyk65WRN55LEzgq5wPI7ZKHb5tZqOAjWl1bTZq2GrnoTKklHf1qjtwYTokknkqEhz"
    "xSuowZSOKP3iFoDuA2DfPU1c9qprp8N/cogK7J548kn0PKF6GesfpLIEYl3tmSeDYyzxL1"
    "nJChpGohep8xeYl+3j1s5efdwwY/68Y17XzZBGRNO39G1NvQTp11LEw6M0YPQzl/kuThXr"
    "s6eczKgF0w0ufw55GJ6aqynRwtzUzQFqT0Xltkl3xyog8/WBXsZN7WSE8EPLDm/ERLgtK7"
    "gWYEVmhmha5JqPRWGPjO84iQaDOgHmAK+mjn1RaSHEUMGJAi+tCFT4F0KK6gc+ggJiC6N7"
    "3IlXnMo17tO/vOBgPttcFAH74cDDRycjDYSr4eYTegLCsISDAkAvS5AJkhroPBG/Q13hLk"
    "sEyb4Y0J0pn6EEuyIeejvS/DMp8LJKCJ/uoeMlky+Xyoo8f1dIotFpTYugL6tAHp4dZQXZ"
    "SqWD7jWlX9ypkUmtqcMfD5hIjXDqwGCHAn/juEkV480BhLFIWwRiGlX0rBCHo1QsymMFC9"
    "2OiD/GahqTqQ8HAdrws/K/yoNK5ULy4oWFfmpZTM5C7O/DYxYq9NGWivvgi0Z0pAT7dIpY"
    "im9fD7bSkkB6VWAdNH21NIbrK4qTDflsnvKWR2DoqbCul2w732FAzLbYw4hv1UhJyEFdXH"
    "HJOEtg06IehCWjwZc3NgWp+Hfof4RB+brgsnbUzaHHOrPsMm+GyzpLo1WZfWB9zWoWYlE+"
    "NcdHnbapfhbcMmw9vyHoM5cL+Ig+cGLz2Yd/baMD7QangTuPS6afISrA158XgRt5cMX+AE"
    "f5R3r5MIUHZ0DzhJKa3JOT2xfTpfW7Nqj7XghO++Pzs9P0KmdvSdnfXOjnuXRyjT16JLzX"
    "6blaZYxs8sNPtFGMy/QLD/hmCvh1zCozaaluyeruKxvSAIx1EQwqoDycz8VXdnjJlHIJ/x"
    "XSC/5l6kfv89RNB8/cNeu15veNa7+nlufa03PH9G1Os2PBeoINxZAjiOzT58utR0t3oVvi"
    "f7X9HDn7cLlVcynkwP6VX7Mtm6bOHRtKvndXKn0acLlMq7RFBnbFWULuKWrabiBU517qpe"
    "1N/ZA5epf5bCwT2zlfqSQG0SWc+e6vPHNW+q4U36oVrAw7H6C/Tuo5Rd4IqKVP03sN+uLs"
    "5rUu/UpJiBUUeh/5mjB8/Q2w3O1c7IpVmllwyL7xMW8ifdwfGP3ve9/T9GNfhk"
)
