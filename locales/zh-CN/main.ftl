# Careline rider pages: Simplified Chinese (the default language).
# Keep every key in all three files; a test checks they match.

brand = 骑手心理关爱
lang-label = 语言
home = 返回首页
privacy-note = 你的回答会保密，只有负责跟进的心理咨询师能看到，不会告诉平台或站点。

## The list of screenings

index-title = 花几分钟，关心一下自己
index-intro = 选一份小调查开始。不用填姓名，按实际情况选就好，没有对错。
index-minutes = 约 { $minutes } 分钟
index-recommended = 推荐
index-empty = 现在还没有可以填写的调查，请稍后再来。

## The form

form-submit = 提交
form-conditional = 这一题是否需要回答，取决于前面的回答；如果不适用，你在这里的选择不会被记录。
form-errors-title = 还有 { $count } 个地方需要看一下
form-error-link = 第 { $number } 题
form-outdated = 这份调查刚刚更新过，请返回首页重新打开再填写。
err-required = 请选一个答案
err-not-a-choice = 请从下面的选项中选一个
err-not-asked = 根据前面的回答，这一题不需要回答
err-duplicate = 这一题只能选一个答案

## The result

crisis-label = 需要帮助时，现在就可以拨打的电话
call = 拨打
result-title = 谢谢你认真回答
result-hotline-title = 想现在就找人聊聊？
result-resources-title = 可能对你有帮助
kind-self_help = 自助练习
kind-course = 课程
kind-booking = 预约咨询
kind-hotline = 热线

## The offer to be contacted

contact-title = 想让心理咨询师联系你吗？
contact-intro = 如果你愿意，留下电话号码，心理咨询师会打给你。完全自愿，不留也可以。
contact-phone = 电话号码
contact-name = 怎么称呼你（可以不填）
contact-consent = 我同意心理咨询师用这个号码联系我
contact-privacy = 号码加密保存，只用于这次联系，{ $days } 天后自动删除，不会告诉平台或站点。
contact-submit = 请联系我
contact-unavailable = 想和心理咨询师聊聊，可以直接拨打上面的热线。
err-consent = 请勾选同意，我们才会保存你的号码
err-phone = 请填写有效的电话号码（5到20位数字）
err-name = 称呼最多50个字

thanks-title = 谢谢，我们收到了
thanks-soon = 心理咨询师会尽快打电话给你。
thanks-days = 心理咨询师会在近几天打电话给你。
thanks-already = 我们已经收到你的联系方式了，心理咨询师会打电话给你。
thanks-meanwhile = 在等待的时候，如果感到撑不住，请马上拨打上面的电话，或者告诉身边的人。

## Problems

form-sensitive-prompt = 有 { $count } 个问题你没有回答。你可以跳过这些问题，但它们能帮我们知道你现在是否安全、需不需要有人尽快联系你。愿意的话可以再看一下；不想回答也没关系，直接再点一次“提交”就好。
form-resend-expired = 这个页面打开得有点久了，为了安全需要再确认一次。你的回答都还在，请检查后再点一次“提交”。
form-resend-check = 我们没能确认这份表格来自本网站，所以还没有保存。你的回答都还在，请检查后再点一次“提交”。
result-resend-expired = 这个页面打开得有点久了。你的结果在下面；如果刚才在填联系方式，内容都还在，请再点一次提交。
result-resend-check = 我们没能确认刚才的操作来自本网站，所以什么都没有改。你的结果在下面，可以再试一次。
hotline-default-name = 全国心理援助热线
error-403-title = 页面已经过期
error-403-body = 为了保护你的信息，这个页面需要重新打开。刚才的内容没有提交，请重新打开再填写。
error-404-title = 没有找到这个页面
error-404-body = 链接可能已经失效。可以回到首页重新选择。
error-409-title = 这份表格已经提交过了
error-409-body = 同一份表格只能提交一次。如果想重新回答，请重新打开调查。
error-400-title = 表格没有收到
error-400-body = 刚才提交的内容不完整，请重新打开再填写。
error-500-title = 出了点问题
error-500-body = 我们暂时没能处理你的回答，请稍后再试。如果你现在需要帮助，请拨打上面的电话。
error-503-title = 你的回答暂时没能保存
error-503-body = 服务暂时连不上数据库，请过几分钟再提交一次。如果你现在需要帮助，请拨打上面的电话。
error-503-result-title = 暂时无法显示你的结果
error-503-result-body = 服务暂时连不上数据库。你的回答已经保存，请过几分钟再试。如果你现在需要帮助，请拨打上面的电话。
error-503-contact-title = 你的联系方式暂时没能保存
error-503-contact-body = 服务暂时连不上数据库，我们还没有收到你的电话号码，请过几分钟再提交一次。如果你现在需要帮助，请拨打上面的电话。
error-429-title = 你的回答暂时没能保存
error-429-body = 短时间内从这个网络或站点提交的筛查太多，你的回答没有保存。如果你现在需要帮助，请拨打上面的电话；你也可以稍后再提交一次。
error-reopen = 重新打开调查

# issue 10: the rider's own data
withdraw-link = 撤回同意、删除我留下的联系方式
withdraw-title = 撤回同意，删除联系方式
withdraw-body = 点下面的按钮，我们会马上删除你留下的电话和称呼，咨询师也就不会再用它联系你。你的答题结果仍按规定保留，但不再和你的电话关联。
withdraw-submit = 撤回同意并删除
withdraw-nothing = 这次筛查没有保存任何联系方式（可能从未留下，或已经删除）。
withdraw-done-title = 已删除
withdraw-done-body = 你的联系方式已经删除，咨询师不会再用它联系你。如果想聊聊，随时可以拨打下面的热线。
withdraw-resend-expired = 这个页面打开太久了。如果仍想删除，请再点一次按钮。

# issue 10: interruptions and read aloud
form-paged = 一次只显示一部分
form-all = 全部显示
form-next = 下一部分
form-back = 上一部分
form-read = 朗读这道题
form-restored = 已恢复你刚才填写的回答，可以接着填。
form-offline-title = 网络断了，你的回答还在
form-offline-body = 你的回答还保存在手机上，网络恢复后会自动重新发送，不会重复。如果你现在很难受，请马上拨打：
form-offline-retrying = 正在等待网络，恢复后会自动发送……
