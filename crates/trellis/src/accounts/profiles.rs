//! How a user appears to others over the API (RealWorld's profile): the one shape every app that shows
//! an author uses.

use serde::Serialize;
use utoipa::ToSchema;

use super::models::User;
use crate::state::AppState;

#[derive(Serialize, ToSchema, Clone)]
pub struct ProfileBody {
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub following: bool,
}

/// The picture shown for a user: the URL they set through the API, else their uploaded avatar.
pub fn image_of(
    state: &AppState,
    user_image_url: Option<&str>,
    avatar: Option<&str>,
) -> Option<String> {
    match (user_image_url, avatar) {
        (Some(url), _) if !url.is_empty() => Some(url.to_string()),
        (_, Some(key)) => Some(format!(
            "{}{}",
            state.settings.base_url(),
            crate::storage::Storage::url(key)
        )),
        _ => None,
    }
}

pub fn profile_of(state: &AppState, u: &User, following: bool) -> ProfileBody {
    ProfileBody {
        username: u.username.clone(),
        bio: (!u.bio.is_empty()).then(|| u.bio.clone()),
        image: image_of(state, u.image_url.as_deref(), u.avatar.as_deref()),
        following,
    }
}
