"""Every router, in the order the OpenAPI document lists them."""

from fastapi import APIRouter

from app.routers import admin, health, tenant

ROUTERS: list[APIRouter] = [
    tenant.router,
    admin.router,
    health.router,
]
