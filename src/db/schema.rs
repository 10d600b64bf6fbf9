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
        source_fp -> Nullable<Text>,
    }
}

diesel::table! {
    contacts (screening_id) {
        screening_id -> Text,
        nonce -> Binary,
        ciphertext -> Binary,
        created_at -> Timestamp,
        delete_after -> Timestamp,
        rider_key -> Nullable<Text>,
    }
}

diesel::table! {
    sites (slug) {
        slug -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        active -> Bool,
        locale -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        phone -> Nullable<Text>,
    }
}

diesel::table! {
    user_sites (user_id, site) {
        user_id -> Text,
        site -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        reference -> Text,
        tier -> Text,
        urgent -> Bool,
        priority -> Integer,
        site -> Nullable<Text>,
        reasons -> Text,
        status -> Text,
        assignee_id -> Nullable<Text>,
        rider_key -> Nullable<Text>,
        created_at -> Timestamp,
        deadline_at -> Timestamp,
        acknowledged_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        updated_at -> Timestamp,
        policy -> Nullable<Text>,
        cluster_id -> Nullable<Text>,
    }
}

diesel::table! {
    spent_challenges (signature) {
        signature -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    flood_clusters (id) {
        id -> Text,
        kind -> Text,
        source_key -> Text,
        site -> Nullable<Text>,
        status -> Text,
        first_at -> Timestamp,
        last_at -> Timestamp,
        alert_count -> Integer,
        paged_at -> Nullable<Timestamp>,
        paged_count -> Integer,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        kind -> Text,
        unique_key -> Text,
        alert_id -> Nullable<Text>,
        payload -> Text,
        status -> Text,
        run_at -> Timestamp,
        attempts -> Integer,
        lease_token -> Nullable<Text>,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    workers (id) {
        id -> Text,
        started_at -> Timestamp,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    mail_health (id) {
        id -> Text,
        failing_since -> Nullable<Timestamp>,
        last_failure_at -> Nullable<Timestamp>,
        last_success_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    login_failures (key) {
        key -> Text,
        count -> Integer,
        last_at -> Timestamp,
    }
}

diesel::table! {
    shifts (id) {
        id -> Text,
        user_id -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    shift_sites (shift_id, site) {
        shift_id -> Text,
        site -> Text,
    }
}

diesel::table! {
    alert_screenings (screening_id) {
        screening_id -> Text,
        alert_id -> Text,
    }
}

diesel::table! {
    alert_events (id) {
        id -> Text,
        alert_id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        kind -> Text,
        detail -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        actor -> Text,
        action -> Text,
        target -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    questionnaire_refusals (questionnaire_id) {
        questionnaire_id -> Text,
        path -> Text,
        content_hash -> Text,
        errors -> Text,
        source -> Text,
        refused_at -> Timestamp,
    }
}

diesel::table! {
    questionnaire_loads (instance_id, questionnaire_id) {
        instance_id -> Text,
        questionnaire_id -> Text,
        content_hash -> Text,
        version -> Text,
        loaded_at -> Timestamp,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    questionnaire_publications (id) {
        id -> Text,
        questionnaire_id -> Text,
        content_hash -> Text,
        old_version -> Nullable<Text>,
        new_version -> Text,
        kind -> Text,
        published_by -> Nullable<Text>,
        published_at -> Timestamp,
    }
}

diesel::table! {
    questionnaire_withdrawals (questionnaire_id) {
        questionnaire_id -> Text,
        withdrawn_at -> Timestamp,
        withdrawn_by -> Nullable<Text>,
    }
}

diesel::joinable!(screenings -> questionnaire_versions (content_hash));
diesel::table! {
    unknown_site_codes (code, day) {
        code -> Text,
        day -> Date,
        count -> Integer,
        last_seen -> Timestamp,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    alert_viewers (alert_id, user_id) {
        alert_id -> Text,
        user_id -> Text,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    channel_slots (channel, slot) {
        channel -> Text,
        slot -> Integer,
        used_at -> Timestamp,
    }
}

diesel::joinable!(contacts -> screenings (screening_id));
diesel::joinable!(alert_viewers -> users (user_id));
diesel::joinable!(alert_viewers -> alerts (alert_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::joinable!(user_sites -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(alert_screenings -> alerts (alert_id));
diesel::joinable!(alert_screenings -> screenings (screening_id));
diesel::joinable!(alert_events -> alerts (alert_id));
diesel::joinable!(alerts -> flood_clusters (cluster_id));
diesel::joinable!(shifts -> users (user_id));
diesel::joinable!(shift_sites -> shifts (shift_id));
diesel::allow_tables_to_appear_in_same_query!(
    questionnaire_versions,
    screenings,
    contacts,
    sites,
    users,
    user_sites,
    sessions,
    alerts,
    alert_screenings,
    alert_events,
    audit_log,
    jobs,
    workers,
    mail_health,
    login_failures,
    shifts,
    shift_sites,
    flood_clusters,
    spent_challenges,
    unknown_site_codes,
    password_resets,
    questionnaire_refusals,
    questionnaire_loads,
    questionnaire_publications,
    questionnaire_withdrawals,
    alert_viewers,
    channel_slots,
);
