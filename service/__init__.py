"""Users, profiles, posts and tags over a typed JSON API: Litestar + Tortoise ORM + aerich on PostgreSQL."""
