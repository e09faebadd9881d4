from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "login_throttles" (
    "key" VARCHAR(320) NOT NULL PRIMARY KEY,
    "failures" INT NOT NULL,
    "window_started_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON COLUMN "login_throttles"."key" IS '''email:<address>'' or ''ip:<address>''';
COMMENT ON TABLE "login_throttles" IS 'Failed sign-ins per account or client address in the current window: shared by every replica.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "login_throttles";"""


MODELS_STATE = (
    "eJztW21T2zgQ/iuafGk7QzsQEuDozc0kNLRcC+lA7tpp78aj2IrjwZZcWW6a6eW/30q243"
    "djE6Ah5EtIVruy9Kyk3WctfrYcZhDbe/WBmRYdTTkTwiatY/SzRbEjvxQr7KAWdt24WQoE"
    "HivTli1VNRHqqjY89gTHuoDmCbY9AiKDeDq3XGExKo1OsWUTA3mWSV9a1EMu4QjrOvOpQI"
    "wj3bYIfMOGwYnnIYsiMSVI9zmX4plFDTY7Rt4Uc+hkPEfkO+FzxIlrWzp+JYdgMB3GYFHz"
    "QZ7mU+ubTzTBTAKmHJ759V8QgyX5AZCEP91rbWIR20gBfk3msgfVoIm5q4Qn8KxTpSqnMt"
    "Z0ZvsOTai7czFldKkPU5VSk1DCsSBGAnjq23boqkgUjBYEgvtkOUwjFhhkgn1buk9aB0OI"
    "ZS1NuxiOtKvBSNNaedc+Iw7Affx7COcfzyTEzyw3Ick6KHyKzqhcNxYVnoLIwT80m1BTTO"
    "Hnfnt3EYwkhipQkw/9u3d58q53+Ry0XsjeGSy/YHlehE3toG2hOsECB90o38TOmMDIfR4s"
    "4rRHzqgodkjSJOMVmMhtvBIJYrfEm+j2foksbobdlIN42d7rHHaO9g86R6CiBrqUHFY44u"
    "xipDCOMQ32j+YJzAEDDYs8uG8AHWE5pBjhwg4yUBthD6+iL48Q+ApUR2fng6tR7/yj7N7x"
    "vG+2gq03GsiWtpLOM9LnB5mdsOwEfTobvUPyJ/oyvBgoOJknTK6eGOuNvrTkmLAvmEbBA7"
    "B/E5hE4ki0kEfc5Dqxr6RgjPXrGeaGlmthbVamm29y2k5Wgik2lZMkmnKcYej6CFMpCmlK"
    "XhnJJAg141cPCfIDYgO3hCBUBgVGCfI9wvPR5wbdm2PHV4n1lHHNUptD5wTHGwFkoP61RC"
    "qsMH5LQWkMCvpN78m+ZZaeeYH+zaddGE4eOgQ1Pep+a7f39w/bu/sHR93O4WH3aHd55uWb"
    "qg6//tlbef6ldl10IJYHnaWP6uYAS4O7yQJ+dbxJhfn2bp0wD1qlYV61pUPQmBkFSdYIdm"
    "UxwJH+rfANF/C6wFsVVQafR6mAEoH4/Lz3+UUqqHwYXryN1BOgn3wY9jNYp8+hJnE+bbmB"
    "Ab4FEzSG1J6Hq+SRBPxwQefifdLrvmvc0utpy63X18XrBWleOPrY66m0pH76kDLbJM70AI"
    "lELsnOeiPvilPGiWXS92Su3HEGI8dUL0ogwkz5L0hNH6ETFtE6i6Tx2cXxbJn2ppcfzB7m"
    "TESQcvWuTnpvBq3FvTGXRNaHzYIywzmm8xGTnzV9NcLmulR+7sJRalZahrmFc+TEVpEial"
    "3StQnjCnxZGwuQDZ27dEvYIi3CJlmv9M3pUhq5o3A9gFzLIbyoZqGcTazi2mrUtFPJRQOl"
    "mnT00xQLhBWnRB6eewiPmS9kGdPxiD15jaDZgWkq5imrn8VM9fbdrFAA3ZLPX0k+xxZrQj"
    "1D9U0gRjneWZN4VjLPHPWckbFniUb0PmGyiTh3jmrh3DmqwFk2bmnnZhOQLe18il6vQztl"
    "1tGYdCaM7oZyPpHkYaW3Ommf5R02pGTE4OOeiem6sp0ULU0s0BqkdKVXZJJQFRCTkGeVk5"
    "KIJNV5P2azGeEvdewRBH4hNpAHJM8BNMUe8l0kGBKE7oAUelVCIL0wUGcMvIJNlK5X9DLt"
    "7jrekpY1PneqSIv62yCjjvTX+NbMlWDydlG8uLMrv05y3a1DYbrlBKar6MvDvcePPRrXcl"
    "Yrh0Uv+dfBp/dWD4smmS2ILUuK6XpYouqVLYjFpbKV6mEqQ6uMOCpyF4ScKKKXxxwZFmsH"
    "HRd0GUWzKVOX/eRdvteIzeSVv7JwUsekzhWN4vsXnAWFvuLW6FzaXs7Yhpq15JCp6LJXq0"
    "K2V1Eg28vXx9Rl0SYALw02PZi3u506hbJup7xOJtvScLvY82YMAgDkxdMmsOcMN3CBt7vd"
    "Woh3KxDvZhGPIkAe6AFwklxakwI9sn04rFsOkTyp1XDB996cn10cI2w4Fv2Hng/O+4PLY5"
    "Toq+lRc1DnpMmWoBIHzUHWDYJdE6p9h2Avh5zzR2k0zdk93H2F3YZO6PuOC6cOJDPRZkX6"
    "FFOTQD5jG0B+1Vw85AnmImi+lv5oEorv7Er4tlhfDvXjLNtui/VP0etlxfoGFYQbSwD90O"
    "z0/aWku8Wn8Irsf00vLi0alVcSSMYXTIqxjMruNRCNu3pcb50rMW1QKu8RbunTVkHpImzZ"
    "qSpe4FjnpupF+czuuEz9VAoHK2Yr5SWB0iSynD2V549b3lTCm+SmaoBwqL6B6N5L2QWeKA"
    "gtSMT+vBpelKTesUk2A7N0gf5DtvWYo28RuBKMVJqV+weZ7P/CZPIn2UH/QV+pFASzxf+U"
    "kHQS"
)
