//! The tracker's models as the admin, the `models` commands and fixtures see them.

use crate::registry::{Admin, Field, Kind, Model};

pub fn models() -> Vec<Model> {
    vec![
        Model {
            app: "tracker",
            name: "roadmap",
            verbose_name: "roadmap",
            verbose_name_plural: "roadmaps",
            table: "tracker_roadmaps",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new(
                    "owner_id",
                    "Owner",
                    Kind::ForeignKey {
                        to: "accounts.user",
                    },
                ),
                Field::new(
                    "title",
                    "Title",
                    Kind::Text {
                        max: super::TITLE_MAX,
                    },
                ),
                Field::new("document", "Document", Kind::Json)
                    .read_only()
                    .help("The parsed roadmap; import a new file to change it."),
                Field::new("start_date", "Start date", Kind::Date).optional(),
                Field::new(
                    "days_per_week",
                    "Study days per week",
                    Kind::Integer { min: 1, max: 7 },
                ),
                Field::new("rest_days", "Rest days", Kind::Text { max: 40 }).blank(),
                Field::new("share_token", "Share token", Kind::Secret)
                    .optional()
                    .read_only(),
                Field::new("created_at", "Created", Kind::DateTime).read_only(),
                Field::new("updated_at", "Updated", Kind::DateTime).read_only(),
            ],
            display: "title",
            ordering: &["-created_at", "-id"],
            // Roadmaps come from imports, which parse and check the document.
            admin: Some(Admin {
                list_display: &["title", "owner_id", "start_date", "created_at"],
                search: &["title"],
                filters: &["owner_id", "created_at"],
                inlines: &[("tracker.activity", "roadmap_id")],
                no_add: true,
                ..Admin::default()
            }),
            clean: None,
        },
        Model {
            app: "tracker",
            name: "progress",
            verbose_name: "progress",
            verbose_name_plural: "progress",
            table: "tracker_progress",
            pk: &["roadmap_id", "item_key"],
            fields: vec![
                Field::new(
                    "roadmap_id",
                    "Roadmap",
                    Kind::ForeignKey {
                        to: "tracker.roadmap",
                    },
                ),
                Field::new("item_key", "Item", Kind::Text { max: 100 }),
                Field::new("status", "Status", Kind::Text { max: 10 }),
                Field::new("note", "Note", Kind::LongText { max: 10_000 }).blank(),
                Field::new("updated_at", "Updated", Kind::DateTime).read_only(),
            ],
            display: "item_key",
            ordering: &["roadmap_id", "item_key"],
            admin: None,
            clean: None,
        },
        Model {
            app: "tracker",
            name: "activity",
            verbose_name: "activity",
            verbose_name_plural: "activity",
            table: "tracker_activity",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new(
                    "roadmap_id",
                    "Roadmap",
                    Kind::ForeignKey {
                        to: "tracker.roadmap",
                    },
                ),
                Field::new("item_key", "Item", Kind::Text { max: 100 }),
                Field::new("status", "Status", Kind::Text { max: 10 }),
                Field::new("day", "Day", Kind::Text { max: 10 }),
                Field::new("at", "At", Kind::DateTime),
            ],
            display: "item_key",
            ordering: &["-at", "-id"],
            // A log of what learners did: read-only.
            admin: Some(Admin {
                list_display: &["item_key", "status", "day", "roadmap_id"],
                filters: &["status", "roadmap_id"],
                no_add: true,
                no_change: true,
                ..Admin::default()
            }),
            clean: None,
        },
    ]
}
