# Careline rider pages: English.
# Keep every key in all three files; a test checks they match.

brand = Careline
lang-label = Language
home = Back to the start
privacy-note = Your answers are confidential: only the counselor who follows up sees them. Neither the platform nor your station is told.

## The list of screenings

index-title = A few minutes for yourself
index-intro = Pick a short check to start. No name needed; just answer how things really are. There are no right or wrong answers.
index-minutes = About { $minutes } min
index-recommended = Recommended
index-empty = There is nothing to fill in right now. Please come back later.

## The form

form-submit = Send
form-conditional = Whether this question applies depends on your earlier answers; if it does not apply, your choice here is not recorded.
form-errors-title = { $count ->
    [one] One thing needs a look
   *[other] { $count } things need a look
}
form-error-link = Question { $number }
form-outdated = This check was just updated. Please go back to the start and open it again.
err-required = Please choose an answer
err-not-a-choice = Please choose one of the answers below
err-not-asked = Given your earlier answers, this question does not apply
err-duplicate = Please choose only one answer

## The result

crisis-label = Numbers you can call now if you need help
call = Call
result-title = Thank you for your answers
result-hotline-title = Want to talk to someone now?
result-resources-title = Things that may help
kind-self_help = Self-help
kind-course = Course
kind-booking = Book a session
kind-hotline = Hotline

## The offer to be contacted

contact-title = Would you like a counselor to contact you?
contact-intro = If you like, leave a phone number and a counselor will call you. It is entirely up to you.
contact-phone = Phone number
contact-name = What should we call you? (optional)
contact-consent = I agree that a counselor may call me on this number
contact-privacy = The number is stored encrypted, used only for this, and deleted after { $days } days. Neither the platform nor your station is told.
contact-submit = Please contact me
contact-unavailable = To talk with a counselor, you can call the hotline above.
err-consent = Please tick the box to agree; only then do we keep your number
err-phone = Please enter a valid phone number (5 to 20 digits)
err-name = Please use at most 50 characters

thanks-title = Thank you, we have it
thanks-soon = A counselor will call you as soon as possible.
thanks-days = A counselor will call you in the next few days.
thanks-already = We already have your contact details; a counselor will call you.
thanks-meanwhile = While you wait, if things feel too much, call one of the numbers above now, or tell someone near you.

## Problems

form-sensitive-prompt = You left { $count ->
    [one] one question
   *[other] { $count } questions
} unanswered. You can skip these questions, but they help us know whether you are safe and whether someone should contact you soon. Have another look if you like; if you would rather not answer, just tap "Submit" again.
form-resend-expired = This page has been open for a while, so we need you to send it once more. Your answers are all still here: check them and tap "Submit" again.
form-resend-check = We could not confirm this form came from this site, so nothing was saved yet. Your answers are all still here: check them and tap "Submit" again.
result-resend-expired = This page has been open for a while. Your result is below; if you were giving your contact details, they are still here: please send them again.
result-resend-check = We could not confirm that came from this site, so nothing was changed. Your result is below; you can try again.
hotline-default-name = National psychological assistance hotline
error-403-title = This page has expired
error-403-body = To protect your information, this page needs to be opened again. Nothing was sent; please open the form again and fill it in.
error-404-title = Page not found
error-404-body = The link may have expired. You can go back to the start and choose again.
error-409-title = This form was already sent
error-409-body = Each form can be sent only once. To answer again, open the check again.
error-400-title = The form did not arrive
error-400-body = What was sent was incomplete. Please open the form again and fill it in.
error-500-title = Something went wrong
error-500-body = We could not process your answers just now; please try again later. If you need help now, call one of the numbers above.
error-503-title = Your answers could not be saved just now
error-503-body = The service cannot reach its database for a moment; please send the form again in a few minutes. If you need help now, call one of the numbers above.
error-503-result-title = Your result cannot be shown just now
error-503-result-body = The service cannot reach its database for a moment. Your answers were saved; please try again in a few minutes. If you need help now, call one of the numbers above.
error-503-contact-title = Your contact details could not be saved just now
error-503-contact-body = The service cannot reach its database for a moment, so nobody has your number yet; please send it again in a few minutes. If you need help now, call one of the numbers above.
error-429-title = Your answers could not be saved just now
error-429-body = Very many screenings were sent from this network or station in a short time, so yours was not saved. If you need help now, call one of the numbers above; you can send the form again later.
error-reopen = Open the check again

# issue 10: the rider's own data
withdraw-link = Withdraw consent and delete the contact details I left
withdraw-title = Withdraw consent, delete contact details
withdraw-body = Press the button below and we delete the phone number and name you left at once; no counselor will use them to contact you. Your answers are kept as the rules require, but no longer tied to your number.
withdraw-submit = Withdraw consent and delete
withdraw-nothing = This screening holds no contact details (none were left, or they were already deleted).
withdraw-done-title = Deleted
withdraw-done-body = Your contact details are deleted; no counselor will use them to contact you. If you want to talk, you can call the hotline below at any time.
withdraw-resend-expired = This page has been open for a while. If you still want them deleted, press the button again.

# issue 10: interruptions and read aloud
form-paged = Show one part at a time
form-all = Show everything
form-next = Next part
form-back = Previous part
form-read = Read this question aloud
form-restored = Your answers from before are back; you can carry on.
form-offline-title = The network dropped; your answers are safe
form-offline-body = Your answers are kept on this phone and will be sent by themselves once the network is back, only once. If things feel too much right now, call:
form-offline-retrying = Waiting for the network; sending as soon as it is back…
