//! Table definitions, the same for both backends (see the mirrored `migrations/` folders).

diesel::table! {
    questionnaire_versions (content_hash) {
        content_hash -> Text,
        questionnaire_id -> Text,
        version -> Text,
        source -> Text,
        first_used_at -> Timestamp,
    }
}

diesel::table! {
    screenings (id) {
        id -> Text,
        questionnaire_id -> Text,
        content_hash -> Text,
        answers -> Text,
        scores -> Text,
        bands -> Text,
        reasons -> Text,
        tier -> Text,
        urgent -> Bool,
        locale -> Text,
        site -> Nullable<Text>,
        submitted_at -> Timestamp,
        idempotency_key -> Nullable<Text>,
        request_hash -> Nullable<Text>,
        response -> Nullable<Text>,
        contact_token_hash -> Nullable<Text>,
    }
}

diesel::table! {
    contacts (screening_id) {
        screening_id -> Text,
        nonce -> Binary,
        ciphertext -> Binary,
        created_at -> Timestamp,
        delete_after -> Timestamp,
    }
}

diesel::joinable!(screenings -> questionnaire_versions (content_hash));
diesel::joinable!(contacts -> screenings (screening_id));
diesel::allow_tables_to_appear_in_same_query!(questionnaire_versions, screenings, contacts);
