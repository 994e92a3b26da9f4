"""gunicorn's settings for the web process (Dockerfile, docker-compose.yml): `-c config/gunicorn.conf.py`.

The access log names the path only. Query strings carry recruitment ids (PROLIFIC_PID and
the like) and the Referer header repeats the participant page's URL with them, so neither
is logged: raw recruitment ids are kept only in the Recruitment table."""

accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
