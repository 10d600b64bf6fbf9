# Careline staff workspace: English.
# Keep every key in all three files; a test checks they match.

ws-brand = Careline workspace
ws-nav-label = Workspace
ws-nav-queue = Alert queue
ws-nav-admin = Users and sites
ws-nav-audit = Audit log
ws-nav-password = Change password
ws-nav-signout = Sign out
ws-nav-menu = Menu
ws-back-home = Back to my workspace
ws-back-to-queue = Back to the queue
ws-yes = Yes
ws-no = No

ws-role-counselor = Counselor
ws-role-supervisor = Supervisor
ws-role-admin = Administrator

## Signing in

ws-login-title = Sign in
ws-login-email = Email
ws-login-password = Password
ws-login-submit = Sign in
ws-login-failed = The email or password is not right, or the account is disabled.
ws-login-wait = { $n ->
    [one] Please wait a minute before trying again.
   *[other] Please wait { $n } minutes before trying again.
}
ws-login-expired = This sign-in form has expired. Please sign in again.

## Password

ws-password-title = Change password
ws-password-hint = At least 12 characters. Changing it signs you out on every other device.
ws-password-current-label = Current password
ws-password-new-label = New password
ws-password-repeat-label = New password again
ws-password-submit = Change password
ws-password-changed = Your password is changed. Other devices have been signed out.
ws-password-mismatch = The two new passwords are not the same.
ws-password-weak = A password needs at least 12 characters (and at most 256 bytes).
ws-password-same = The new password must differ from the current one.
ws-password-current = The current password is not right (or there were too many attempts: wait a few minutes).

## The queue

ws-queue-title = Alert queue
ws-queue-open-red = Open red alerts
ws-queue-take-next = Take next
ws-cluster-row = Suspected flood at { $site }: { $count } alerts ({ $red } red), { $first } to { $last }
ws-cluster-title = Suspected flood
ws-cluster-summary = { $count } alerts not yet resolved ({ $red } red, { $contact } with a phone number), at { $site }, { $first } to { $last }. They keep their deadlines; they are paged as one group. Those with a phone number come first.
ws-cluster-pick = Move
ws-cluster-contact = Phone number
ws-cluster-has-contact = Left a number
ws-cluster-release = Move the ticked alerts back to the queue
ws-cluster-note = Why the rest are false positives
ws-cluster-resolve = Resolve all the others as false positives
ws-cluster-supervisors = A supervisor reviews suspected floods. If one of these looks real, open it and take it, or tell your supervisor.
ws-cluster-released = { $count } alerts moved back to the queue.
ws-cluster-resolved = { $count } alerts resolved as false positives; { $kept } taken by others were left as they are.
ws-queue-empty = No alerts here right now.
ws-queue-none-open = There is no open alert to take.
ws-queue-no-js = New alerts appear here by themselves; without JavaScript, reload the page.
ws-queue-more = { $count } more alerts: next page
ws-live-on = Live: new alerts appear by themselves
ws-live-off = Live updates paused; reload the page to be sure
ws-filter-status = Status
ws-filter-status-active = Open and taken
ws-filter-status-all = All
ws-filter-tier = Tier
ws-filter-site = Station
ws-filter-any = Any
ws-filter-apply = Show
ws-col-reference = Alert
ws-col-tier = Tier
ws-col-status = Status
ws-col-deadline = Deadline
ws-col-site = Station
ws-col-assignee = Taken by
ws-col-created = Raised
ws-no-site = (no station)
ws-nobody = Nobody yet
ws-urgent = Urgent
ws-tier-red = Red
ws-tier-yellow = Yellow
ws-tier-green = Green
ws-status-open = Open
ws-status-acknowledged = Taken
ws-status-resolved = Resolved
ws-left-minutes = { $n } min left
ws-left-hours = { $n } h left
ws-left-days = { $n ->
    [one] 1 day left
   *[other] { $n } days left
}
ws-overdue-minutes = overdue by { $n } min
ws-overdue-hours = overdue by { $n } h
ws-overdue-days = { $n ->
    [one] overdue by 1 day
   *[other] overdue by { $n } days
}

## The alert page

ws-alert-title = Alert
ws-alert-outcome = Outcome
ws-crisis-title = If the rider is in danger now
ws-crisis-body = Call emergency services first, then stay on the line with the rider if you can.
ws-actions-title = What to do
ws-actions-none = Nothing to do here: this alert is resolved, or someone else has taken it.
ws-action-acknowledge = Take this alert
ws-action-unacknowledge = Give it back to the queue
ws-action-note-label = Note for the timeline
ws-action-note = Add note
ws-action-outcome-label = Outcome
ws-action-resolve-note-label = What was done (required)
ws-action-resolve = Resolve
ws-action-assign-label = Hand over to
ws-action-assign = Hand over
ws-outcome-choose = Choose an outcome
ws-outcome-contacted_safe = Contacted, safe
ws-outcome-referred = Referred
ws-outcome-emergency_services = Emergency services called
ws-outcome-unreachable = Could not be reached
ws-outcome-false_positive = False positive
ws-outcome-other = Other
ws-conflict-taken = This alert has already been taken by
ws-conflict-resolved = This alert is already resolved.
ws-conflict-open = Nobody has taken this alert yet: take it first.
ws-invalid-note = Please write a note (at most 4000 characters).
ws-invalid-outcome = Please choose an outcome.
ws-invalid-assignee = Choose an active counselor or supervisor of this alert's station.
ws-reasons-title = Why it was raised
ws-contact-title = Contact details
ws-referral-title = Referral export (FHIR)
ws-referral-hint = The screenings of this alert as a FHIR R4 file (QuestionnaireResponse with scores) for a hospital. Every export is recorded in the audit log.
ws-referral-contact = Include contact details (name and phone)
ws-referral-download = Download FHIR file
ws-contact-consented = The rider agreed to be called on this number.
ws-contact-name = Name
ws-contact-phone = Phone
ws-scores-title = Scores
ws-answers-title = Answers
ws-unanswered = not answered
ws-screening-submitted = Submitted
ws-screening-version = version
ws-screening-locale = answered in
ws-earlier-title = Earlier screenings of this rider
ws-timeline-title = Timeline
ws-system = System
ws-event-opened = Raised
ws-event-attached = Another screening attached
ws-event-acknowledged = Taken
ws-event-unacknowledged = Given back
ws-event-reassigned = Handed over
ws-event-note = Note
ws-event-resolved = Resolved
ws-event-paged = Paged
ws-event-escalation_gap = Nobody on duty at this escalation level
ws-event-escalation_repaired = Escalation resumed
ws-event-delivery_failed = A notification could not be delivered
ws-event-nobody_to_page = Nobody could be paged: no one on duty, no supervisor, no backup address

## Administration

ws-admin-title = Users and sites
ws-admin-users = Users
ws-admin-email = Email
ws-admin-name = Name
ws-admin-role = Role
ws-admin-sites = Stations
ws-admin-sites-hint = None ticked: all stations.
ws-admin-active = Active
ws-admin-locale = Language
ws-admin-edit = Edit
ws-admin-save = Save
ws-admin-reset-password = New password (leave empty to keep)
ws-admin-new-user = Add a user
ws-admin-password = Password
ws-admin-password-hint = Leave empty to have one generated; it is shown once.
ws-admin-create-user = Add user
ws-admin-generated = Generated password for
ws-admin-generated-once = Pass it on now, safely: it is not shown again.
ws-admin-user-saved = The user is saved.
ws-admin-site-saved = The station is saved.
ws-all-sites = All stations
ws-admin-sites-title = Stations
ws-admin-slug = Code
ws-admin-slug-hint = Lowercase letters, digits, - and _; it is part of the station's QR code link and cannot change.
ws-admin-site-name = Name
ws-admin-qr = QR code link
ws-admin-poster = Printable poster
ws-admin-unknown-title = Unknown station codes in the last 7 days
ws-admin-unknown-hint = Screenings whose QR link named no station were stored without one. A code here is a misprinted or old poster: create the station with that code, or replace the poster.
ws-admin-unknown-none = None: every station code used in the last 7 days is known.
ws-admin-unknown-code = Code
ws-admin-unknown-count = Screenings
ws-admin-unknown-last = Last seen (China time)
ws-admin-rename = Rename
ws-admin-new-site = Add a station
ws-admin-create-site = Add station
ws-admin-invalid-email = Please enter an email address like name@example.org.
ws-admin-invalid-name = A name has 1 to 100 characters.
ws-admin-invalid-role = Choose counselor, supervisor or administrator.
ws-admin-invalid-sites = One of the stations does not exist; add it first.
ws-admin-invalid-locale = Choose one of the languages offered.
ws-admin-invalid-slug = A code has 1 to 64 lowercase letters, digits, - and _.
ws-admin-invalid-nothing = Nothing was changed.
ws-admin-user-exists = A user with this email already exists.
ws-admin-site-exists = A station with this code already exists.
ws-admin-last-admin = This is the last active administrator: make another one first.

## The audit log

ws-audit-title = Audit log
ws-audit-all = All actions
ws-audit-at = When (UTC)
ws-audit-actor = Who
ws-audit-action = Action
ws-audit-target = Record
ws-audit-ip = Address
ws-audit-detail = Detail
ws-audit-empty = No entries.
ws-audit-newest = Newest
ws-audit-older = Older entries

## Problems

ws-error-400-title = That request was not understood
ws-error-400-body = A filter or a form field had a value that is not allowed. Go back and try again.
ws-error-403-title = Not your area
ws-error-403-body = Your role does not give access to this part of the workspace.
ws-error-404-title = Not found
ws-error-404-body = There is no such record among the ones you may see.
ws-error-409-title = Someone got there first
ws-error-409-body = The alert changed in the meantime. Look at it again before acting.
ws-error-500-title = Something went wrong
ws-error-500-body = The page could not be shown just now. Please try again in a moment.
ws-error-503-title = Temporarily unavailable
ws-error-503-body = The service cannot reach its database just now. Please try again in a few seconds.
ws-error-csrf-title = This form has expired
ws-error-csrf-body = Nothing was changed. Open the page again and repeat what you wanted to do.
ws-nav-reports = Reports
rep-title = Programme reports
rep-intro = Finished weeks or months, China time. A count under { $min } is shown as "<{ $min }", and "—" marks a figure withheld so that it cannot be computed back: no figure singles out a rider.
rep-from = From
rep-to = To
rep-by = Per
rep-week = week
rep-month = month
rep-empty = No finished week or month in this window.
rep-screenings = Screenings
rep-chart-screenings = Screenings per period by tier
rep-tier-green = green
rep-tier-yellow = yellow
rep-tier-red = red
rep-site = Site
rep-total = Total
rep-all = all
rep-other-sites = other sites
rep-no-site = no site
rep-csv = Download as CSV
rep-alerts = Alerts
rep-period = Period
rep-tier = Tier
rep-opened = Opened
rep-median = Median minutes to acknowledge
rep-p90 = 90th percentile (minutes)
rep-share = Acknowledged in time
rep-coverage = Roster coverage
rep-chart-coverage = Hours with no counselor on duty, per period
rep-hours = Hours
rep-uncovered = Hours with no counselor on duty

# issue 10: contact requests and erasure
ws-reason-contact-requested = The rider asked to be contacted (green result)
ws-event-contact_erased = Contact details deleted (withdrawn by the rider, or erased on request)
ws-admin-erase-title = Erase a rider's contact details on request
ws-admin-erase-intro = Enter the phone number the rider gives: every contact left with it is deleted; their alerts keep the record, without the contact. The number is neither stored nor logged.
ws-admin-erase-phone = Phone number
ws-admin-erase-submit = Erase contact details
ws-admin-erased = { $contacts } contact(s) erased; { $alerts } alert(s) no longer tied to this rider.
ws-admin-erase-bad-phone = That is not a phone number: 5 to 20 digits, and only digits, spaces and + - ( ).

# issue 13: password reset, duty-cover banners, the night call
ws-login-forgot = Forgot your password?
ws-forgot-title = Reset your password
ws-forgot-hint = Enter the email address you sign in with. If it belongs to an account, we send a link to set a new password; the link works once, for 30 minutes.
ws-forgot-submit = Send the link
ws-forgot-sent = If this address belongs to an account, a link to set a new password is on its way. Check your mailbox.
ws-forgot-back = Back to sign-in
ws-forgot-bad-email = Enter the email address you sign in with.
ws-forgot-expired = This form has expired. Please try again.
ws-forgot-wait = { $n ->
    [one] Too many requests. Please wait a minute before asking again.
   *[other] Too many requests. Please wait { $n } minutes before asking again.
}
ws-reset-title = Set a new password
ws-reset-submit = Set the password
ws-reset-dead = This link is not valid: it was already used, it has expired, or it is incomplete. Ask for a new one.
ws-reset-again = Ask for a new link
ws-reset-done = Your password has been changed and every session signed out. Sign in with the new password.
ws-banner-no-shifts = Nobody will be paged: there is no duty shift from now on. Red alerts reach nobody until a shift exists.
ws-banner-gap = Nobody on duty at { $site } from { $from } to { $to } (China time).
ws-banner-more = { $n ->
    [one] …and one more gap in the next 24 hours.
   *[other] …and { $n } more gaps in the next 24 hours.
}
ws-banner-rosters = Open the rosters
ws-alert-call = Call the rider
ws-alert-no-contact = The rider left no contact details: there is no number to call.
ws-alert-updated = Someone else changed this alert; the page shows the latest.
ws-queue-has-contact = number left
ws-queue-alarm-enable = Turn on alarm notifications
ws-queue-alarm-on = Alarm on: a new red alert sounds and notifies.
ws-queue-alarm-denied = Notifications are blocked in this browser; the tone still sounds while this page is open.
ws-queue-alarm-title = New red alert
ws-queue-alarm-body = A red alert is waiting in the queue.
ws-china-time = China time
ws-reason-rule-error = { $rule }: could not be evaluated (an item was unanswered)
ws-score-total = Total
ws-score-anxiety = Anxiety
ws-score-depression = Depression
ws-score-mood = Mood and anxiety
ws-score-sleep = Sleep and fatigue
ws-score-work_pressure = Work pressure
ws-band-incomplete = incomplete (too many items unanswered)
ws-band-minimal = minimal
ws-band-none = none
ws-band-mild = mild
ws-band-moderate = moderate
ws-band-moderately_severe = moderately severe
ws-band-severe = severe
ws-band-low = low
ws-band-high = high
ws-band-very_high = very high
ws-band-serious = serious
ws-band-likely_depression = likely depression
ws-band-poor_wellbeing = poor wellbeing
ws-band-normal = normal
ws-band-ok = fine
ws-band-strained = strained
ws-band-poor = poor

# issue 14: questionnaire administration
ws-nav-questionnaires = Questionnaires
qa-title = Questionnaires
qa-intro = Every questionnaire file: the version riders get, and any edit the service refused, with the offending lines.
qa-id = Id
qa-version = Version
qa-hash = Content hash
qa-items = Items
qa-examples = Examples
qa-loaded = Loaded (UTC)
qa-offered = Offered to riders
qa-serving = Serving
qa-serving-file = the file
qa-serving-stored = the last good stored version (the file is refused)
qa-serving-none = nothing
qa-withdrawn = withdrawn
qa-refused = The last edit of this file was refused; the version shown keeps serving. Errors:
qa-other-instance = Another instance still serves a different version:
qa-new-help = To add a questionnaire, open /admin/questionnaires/<its id> and paste its text.
qa-back = All questionnaires
qa-live = live
qa-withdraw = Withdraw from riders
qa-restore = Offer to riders again
qa-history = Version history
qa-stored-at = Stored (UTC)
qa-first-used = First used
qa-last-used = Last used
qa-screenings = Screenings
qa-few = fewer than the smallest shown count
qa-rollback = Roll back to this version
qa-diff-from = From
qa-diff-to = To
qa-diff-show = Show the differences
qa-edit = Edit or add
qa-edit-help = Paste the whole TOML text and bump its version. The preview checks it as careline check does and shows what would change; nothing is published until you press Publish.
qa-source = Questionnaire text (TOML)
qa-days = Screenings of the last days
qa-preview = Preview
qa-report = What would change
qa-report-days = Window in days:
qa-unscorable = Answers that no longer fit
qa-old-tier = Tier now
qa-new-tier = Tier after the edit
qa-count = Screenings
qa-bands = Bands and rules that start or stop firing
qa-newly = Newly firing
qa-stopped = Stop firing
qa-none = None.
qa-examples-changed = Examples whose outcome changes
qa-form-preview = The form as a rider sees it
qa-conditional = asked only when its condition holds
qa-publish = Publish
qa-suppressed = fewer than { $n }
qa-invalid = The text has errors (as careline check reports them); nothing was changed.
qa-not-bumped = Not published:
qa-published = Published: the new version is being served.
qa-withdrawn-done = Withdrawn: riders are no longer offered it. Its versions are kept.
qa-restored-done = Riders are offered it again.

# issue 13: channels (staff phone numbers)
ws-admin-phone = Mobile phone (SMS and voice pages)
ws-admin-phone-hint = E.164: + then country code and number, e.g. +8613800138000. Leave empty for email and group robots only.
ws-event-channel_sent = Sent to a channel (group robot, SMS or voice call)

# issue 13: who else has the alert open
ws-alert-viewers = Also open now: { $names }
ws-list-separator = { ", " }

# issue 14: upload a questionnaire file
qa-upload = Or upload a .toml file (it replaces the text below; nothing is sent until you preview):
