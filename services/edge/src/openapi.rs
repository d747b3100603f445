//! The OpenAPI 3 description of every REST route, served at `/openapi.json` and rendered at
//! `/docs` (Swagger UI, vendored: works offline).

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::routes::{consent, fhir, ops, portal, read, statistics, write};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pasientens måledata",
        description = "National service for home-monitoring measurements. FHIR R4 JSON; the contract mirrors NHN's PMD 2.0 API. Every /fhir and /api route needs a bearer JWT (HelseID claims).",
    ),
    paths(
        ops::healthz, ops::readyz,
        write::bundle, write::create_observation, read::search_get, read::search_post,
        read::lastn_get, read::lastn_post, read::read_observation, fhir::audit_events,
        consent::create, consent::list, consent::delete,
        statistics::usage, statistics::adoption, statistics::export,
        statistics::dashboard, statistics::dashboard_redirect, statistics::dashboard_asset,
        statistics::dev_token,
        portal::index, portal::redirect, portal::asset, portal::dev_citizens, portal::dev_sign_in,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "write", description = "Sources push measurements (scope pmd:write)"),
        (name = "read", description = "Health personnel read measurements (scope pmd:read)"),
        (name = "citizen", description = "Citizens: own data, access log, blocks (scope pmd:citizen)"),
        (name = "statistics", description = "Health directorate (scope pmd:statistics): usage, adoption indicators, de-identified export; the dashboard at /portal/statistikk/ and, in the embedded mode only, its development sign-in"),
        (name = "portal", description = "The citizen portal's pages and, in the embedded mode only, its development sign-in; no token"),
        (name = "operations", description = "Probes and metrics; no token"),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
