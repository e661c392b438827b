"""paas.logcenter"""
