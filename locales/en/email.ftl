# Emails to staff. They carry no rider data: reference, tier, site, deadline and a link only.
email-tier-red = Red alert
email-tier-red-urgent = Urgent red alert
email-tier-yellow = Yellow alert
email-no-site = no site given
email-page-subject = [Careline] { $tier } { $reference } · { $site } · due { $deadline }
email-page-body =
    { $tier }: { $reference }
    Site: { $site }
    Acknowledge by: { $deadline } (China Standard Time)

    Please sign in and acknowledge (take) this alert as soon as you can:
    { $link }

    Until someone acknowledges it, the alert escalates along the duty roster.
email-remind-subject = [Careline] Reminder: alert { $reference } is not resolved yet
email-remind-body =
    Alert { $reference } ({ $tier }, site: { $site }) was taken but is not resolved yet.

    Please record the outcome once it is handled:
    { $link }
email-digest-subject = [Careline] Daily summary: { $count } yellow alerts to follow up
email-digest-body =
    As of { $date }, the sites you serve have open yellow alerts to follow up:

    { $lines }

    Open the queue:
    { $link }
email-flood-subject = [Careline] Suspected flood at { $site }: { $count } screenings in { $minutes } minutes
email-flood-body =
    Suspected flood at { $site }: { $count } yellow or red screenings in { $minutes } minutes, far more than a station sends.

    They are grouped as one row in the queue instead of paging one by one; each keeps its
    deadline. Please open the group, move any that look real back to the queue (those with a
    phone number are listed first), and resolve the rest as false positives:
    { $link }
email-footer = Sent automatically by Careline; please do not reply.

# issue 13: password reset, roster gaps
email-reset-subject = [Careline] Set a new password
email-reset-body =
    Someone (hopefully you) asked to set a new password for your Careline account.
    Open this link within { $minutes } minutes to choose one; it works once:
    { $link }

    If you did not ask, ignore this message: your password stays as it is.
email-gaps-subject = [Careline] { $count } roster gaps in the next 7 days
email-gaps-body =
    As of { $date }, nobody is on duty at these times (China time); red alerts then reach nobody at the site until the last escalation level:

    { $lines }

    Add shifts on the rosters page:
    { $link }
email-gaps-line = - { $site }: { $from } to { $to }

# issue 13: channels (group robots; the same fields as a page email, never rider data)
channel-page-text = [Careline] { $tier } { $reference }, site: { $site }. Acknowledge by { $deadline } (China Standard Time): { $link }
# The daily roster gaps on a group robot (site names and China time only)
channel-gaps-text = [Careline] { $count } roster gaps in the next 7 days, as of { $date } (China time); red alerts then reach nobody at the site until the last escalation level:
    { $lines }
    Add shifts: { $link }
channel-gaps-more = - and { $count } more
