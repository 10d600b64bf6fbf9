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

# issue 13: channels (group robots; the same fields as a page email, never rider data)
channel-page-text = [Careline] { $tier } { $reference }, site: { $site }. Acknowledge by { $deadline } (China Standard Time): { $link }
